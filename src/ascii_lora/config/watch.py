"""Watching a run: ``[validation]`` (held-out loss), ``[notify]`` (a webhook) and the price of the card.

Kept apart from models.py so that each table group stays one module. The rules that need another
table (how many images ``[dataset] count`` leaves for training) live in ``held_out_images``; the
root model calls it.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator

from .common import Strict

WEBHOOK_ENV = "ASCII_LORA_WEBHOOK_URL"  # the URL from the environment, so it need not sit in a config file
TIMESTEPS_PER_VALIDATION = 4  # train_network.py at the pin: NUM_VALIDATION_TIMESTEPS, fixed in code


class ValidationConfig(Strict):
    """``[validation]``: sd-scripts' own validation loss on images held out of training.

    sd-scripts (at the pin) splits each dataset folder with ``validation_split`` after a shuffle seeded
    by ``validation_seed`` and, every ``validate_every_n_steps``, runs the held-out images through the
    model at 4 fixed timesteps with a fixed noise seed: the numbers compare across steps and runs.
    """

    enabled: bool = Field(
        True,
        description="Hold images out and report their loss. Cost: they are not trained "
        "on, and each validation runs 4 forward passes per held-out batch (no backward pass).",
    )
    share: float = Field(
        0.05, gt=0, lt=1, description="Share of [dataset] count held out (rounded); 0.05 of 280 is 14 images."
    )
    images: int | None = Field(
        None, ge=1, le=1_000_000, description="Held-out image count; set, it replaces share."
    )
    every_n_steps: int | None = Field(
        None,
        ge=1,
        description="Validation interval in steps; None takes [sample] "
        "every_n_steps, so each sampled step has its loss beside its pass rate.",
    )
    max_batches: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="At most this many held-out batches per "
        "validation (--max_validation_steps); None: all of them.",
    )
    seed: int = Field(
        20261206,
        ge=0,
        le=2**32 - 1,
        description="Seed of the held-out choice and of the "
        "validation noise (--validation_seed): the same images and noise at every validation.",
    )

    def held_out(self, count: int) -> int:
        """How many of ``count`` images are held out (0 when validation is off)."""
        if not self.enabled:
            return 0
        return self.images if self.images is not None else round(count * self.share)


def held_out_images(validation: ValidationConfig, count: int) -> int:
    """The held-out count for ``[dataset] count`` images; refused in one line when it leaves no training image."""
    k = validation.held_out(count)
    if validation.enabled and k >= count:
        raise ValueError(
            f"[validation] holds out {k} of [dataset] count {count} images and leaves no training image; "
            "lower share or images, or raise count"
        )
    return k


def validation_warning(validation: ValidationConfig, count: int) -> str | None:
    """A share too small for the dataset holds out nothing: legal (a tiny test set), but no loss is reported."""
    if validation.enabled and validation.held_out(count) == 0:
        return (
            f"[validation] share {validation.share:g} of [dataset] count {count} holds out no image: no validation "
            "loss will be reported; raise share or set images"
        )
    return None


def validation_split(count: int, held_out: int) -> float:
    """The ``validation_split`` under which sd-scripts holds out exactly ``held_out`` of ``count`` images.

    sd-scripts trains on ``paths[:ceil(n * (1 - split))]`` and validates on
    ``paths[n - round(n * split):]``: with a split whose float product lands a hair above a whole
    number (280 * (1 - 40 / 280) is 240.00000000000003), the training part takes one image more and that
    image is in both parts. The nearest float that gives exactly the counts is returned.
    """
    if not 0 < held_out < count:
        raise ValueError(f"held_out must lie in 1..{count - 1}, got {held_out}")
    split = held_out / count
    for _ in range(64):
        train = math.ceil(count * (1 - split))
        val = round(count * split)
        if train == count - held_out and val == held_out:
            return split
        split = math.nextafter(split, 1.0 if train > count - held_out else 0.0)
    raise ValueError(
        f"no validation_split gives {held_out} of {count} images"
    )  # not reached for count < 2**40


class NotifyConfig(Strict):
    """``[notify]``: a JSON POST to a webhook (Slack or Discord compatible) when something happens.

    The URL is a secret: it is never printed, never written to a plan file, ``run.json`` or a log.
    It may come from the environment (``ASCII_LORA_WEBHOOK_URL``) instead of the config file.
    """

    webhook_url: SecretStr | None = Field(
        None,
        description="https:// (or http://) URL; messages go out on launch, "
        "each saved checkpoint, a stop, a failure and the end. Or set "
        f"{WEBHOOK_ENV}.",
    )
    timeout_s: float = Field(
        5.0, gt=0, le=60, description="Seconds one POST may take; it never slows training."
    )

    @model_validator(mode="after")
    def _http_url(self) -> NotifyConfig:
        # checked here, on the whole table, so that the error names the key but never shows the secret value
        if self.webhook_url is not None:
            problem = webhook_url_problem(self.webhook_url.get_secret_value())
            if problem:
                raise ValueError(f"[notify] webhook_url {problem} (the value is a secret and is not shown)")
        return self


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook (None: it can)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("https", "http"):
        return "must start with https:// (or http://)"
    if not parts.hostname or any(c.isspace() or ord(c) < 32 for c in url):
        return "must name a host and hold no spaces or control characters"
    return None
