"""``[validation]`` and ``[notify]``: held-out images that sd-scripts really holds out, and a webhook
URL that is checked but never shown.

The split oracle is sd-scripts' own arithmetic at the pin (library/train_util.py split_train_val):
the training part is ``paths[:ceil(n * (1 - split))]``, the validation part ``paths[n - round(n * split):]``.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ascii_lora.config.loader import format_validation_error
from ascii_lora.config.models import Strict
from ascii_lora.config.watch import (
    NotifyConfig,
    ValidationConfig,
    held_out_images,
    validation_split,
    validation_warning,
)
from ascii_lora.errors import UserError
from ascii_lora.train.notify import webhook_url

SECRET = "https://hooks.example.invalid/services/T000/B000/very-secret-token"


def sd_scripts_parts(n: int, split: float) -> tuple[int, int]:
    """(training images, validation images) sd-scripts takes from n images at ``split``."""
    return math.ceil(n * (1 - split)), n - (n - round(n * split))


@given(st.integers(2, 20000).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n - 1))))
@settings(max_examples=400, deadline=None)
def test_the_split_holds_out_exactly_the_asked_images_and_trains_on_all_others(nk):
    n, k = nk
    train, val = sd_scripts_parts(n, validation_split(n, k))
    assert (train, val) == (n - k, k)  # together n: the two parts of one shuffled list never overlap


def test_the_plain_quotient_would_put_an_image_in_both_parts():
    # why validation_split does not return k / n: 280 * (1 - 40 / 280) lands above 240, the training part takes 241
    assert sd_scripts_parts(280, 40 / 280) == (241, 40)
    assert sd_scripts_parts(280, validation_split(280, 40)) == (240, 40)


def test_default_holds_out_five_percent_rounded():
    v = ValidationConfig()
    assert (v.enabled, held_out_images(v, 280), held_out_images(v, 30)) == (True, 14, 2)
    assert held_out_images(ValidationConfig(images=3), 280) == 3
    assert held_out_images(ValidationConfig(enabled=False), 280) == 0


@pytest.mark.parametrize(
    "table,count,line",
    [
        (
            {"images": 4},
            4,
            "[validation] holds out 4 of [dataset] count 4 images and leaves no training image; "
            "lower share or images, or raise count",
        ),
        (
            {"share": 0.9},
            2,
            "[validation] holds out 2 of [dataset] count 2 images and leaves no training image; "
            "lower share or images, or raise count",
        ),
    ],
)
def test_a_hold_out_that_leaves_no_training_image_is_refused_in_one_line(table, count, line):
    with pytest.raises(ValueError) as e:
        held_out_images(ValidationConfig(**table), count)
    assert str(e.value) == line


def test_a_share_too_small_for_a_tiny_dataset_is_a_warning_not_a_refusal():
    assert held_out_images(ValidationConfig(), 8) == 0
    assert validation_warning(ValidationConfig(), 8) == (
        "[validation] share 0.05 of [dataset] count 8 holds out no image: no validation loss will be reported; "
        "raise share or set images"
    )
    assert validation_warning(ValidationConfig(), 280) is None
    assert validation_warning(ValidationConfig(enabled=False), 8) is None


class Root(Strict):
    notify: NotifyConfig = NotifyConfig()
    validation: ValidationConfig = ValidationConfig()


def refusal(data: dict) -> str:
    with pytest.raises(ValidationError) as e:
        Root.model_validate(data)
    return format_validation_error("exp.toml", e.value, root=Root)


@pytest.mark.parametrize(
    "url,why",
    [
        ("ftp://hooks.example.invalid/very-secret-token", "must start with https:// (or http://)"),
        ("hooks.example.invalid/very-secret-token", "must start with https:// (or http://)"),
        ("file:///etc/very-secret-token", "must start with https:// (or http://)"),
        ("https:///very-secret-token", "must name a host and hold no spaces or control characters"),
        (
            "https://hooks.example.invalid/very secret-token",
            "must name a host and hold no spaces or control characters",
        ),
    ],
)
def test_a_bad_webhook_url_is_refused_in_one_line_that_never_shows_it(url, why):
    line = refusal({"notify": {"webhook_url": url}})
    assert line == f"exp.toml: [notify] webhook_url {why} (the value is a secret and is not shown)"
    assert "very-secret-token" not in line


def test_the_webhook_url_never_leaves_the_model_in_a_dump():
    cfg = Root.model_validate({"notify": {"webhook_url": SECRET}})
    assert cfg.notify.webhook_url.get_secret_value() == SECRET
    assert "very-secret-token" not in repr(cfg) + str(cfg.model_dump(mode="json")) + cfg.model_dump_json()


@pytest.mark.parametrize(
    "table,line",
    [
        (
            {"validation": {"share": 0}},
            "exp.toml: [validation] share: Input should be greater than 0 (got 0)",
        ),
        (
            {"validation": {"share": 1.0}},
            "exp.toml: [validation] share: Input should be less than 1 (got 1.0)",
        ),
        (
            {"validation": {"every_n_steps": 0}},
            "exp.toml: [validation] every_n_steps: Input should be greater than or equal to 1 (got 0)",
        ),
        (
            {"notify": {"timeout_s": 0}},
            "exp.toml: [notify] timeout_s: Input should be greater than 0 (got 0)",
        ),
    ],
)
def test_out_of_range_settings_are_one_line(table, line):
    assert refusal(table) == line


def test_the_environment_url_wins_and_is_checked_without_being_shown():
    cfg = NotifyConfig(webhook_url="https://a.example.invalid/x")
    assert webhook_url(cfg, {}) == "https://a.example.invalid/x"
    assert webhook_url(cfg, {"ASCII_LORA_WEBHOOK_URL": SECRET}) == SECRET
    assert webhook_url(NotifyConfig(), {}) is None
    with pytest.raises(UserError) as e:
        webhook_url(NotifyConfig(), {"ASCII_LORA_WEBHOOK_URL": "gopher://x/very-secret-token"})
    assert str(e.value) == (
        "ASCII_LORA_WEBHOOK_URL must start with https:// (or http://) "
        "(the value is a secret and is not shown)"
    )
