"""What sd-scripts is told about validation, judged by sd-scripts' own parser and dataset schema facts
(tests/fixtures/sd_scripts_facts.json, read from the pinned source), and the refusals of the config."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest
import tomli_w

from ascii_lora.config.loader import load_config
from ascii_lora.config.models import ExperimentConfig
from ascii_lora.errors import UserError
from ascii_lora.train.estimate import estimate
from ascii_lora.train.kohya.plan import build_plan
from ascii_lora.train.validation_plan import run_shape, validation_batches

from .kohya_facts import KohyaFacts


@pytest.fixture(scope="module")
def facts() -> KohyaFacts:
    return KohyaFacts()


def plan_for(tmp_path: Path, tables: dict):
    cfg = ExperimentConfig.model_validate(tables)
    return cfg, build_plan(cfg, tmp_path)


def test_the_default_run_holds_out_14_images_that_sd_scripts_splits_off_exactly(facts, tmp_path):
    cfg, plan = plan_for(tmp_path, {})
    data = tomllib.loads(tomli_w.dumps(plan.dataset_config))
    facts.check_dataset_toml(data)
    ds = data["datasets"][0]
    n, split = cfg.dataset.count, ds["validation_split"]
    assert ds["validation_seed"] == cfg.validation.seed
    # sd-scripts' split_train_val at the pin: training paths[:ceil(n(1-s))], validation paths[n - round(n s):]
    assert (math.ceil(n * (1 - split)), round(n * split)) == (266, 14)
    parsed = facts.parse(plan.trainer_args)
    assert parsed["validation_seed"] == str(cfg.validation.seed)
    assert parsed["validate_every_n_steps"] == str(cfg.sample.every_n_steps)
    # longer than the run: no extra validation at each epoch's end
    assert int(parsed["validate_every_n_epochs"]) > cfg.training.max_train_steps
    assert "max_validation_steps" not in parsed and "validation_split" not in parsed


def test_interval_batches_and_seed_reach_the_trainer(facts, tmp_path):
    cfg, plan = plan_for(
        tmp_path, {"validation": {"images": 30, "every_n_steps": 500, "max_batches": 4, "seed": 9}}
    )
    parsed = facts.parse(plan.trainer_args)
    assert (parsed["validate_every_n_steps"], parsed["max_validation_steps"], parsed["validation_seed"]) == (
        "500",
        "4",
        "9",
    )
    ds = plan.dataset_config["datasets"][0]
    assert (ds["validation_seed"], round(280 * ds["validation_split"])) == (9, 30)
    assert validation_batches(cfg) == 4  # 30 images at batch 2 are 15 batches, capped at 4


def test_validation_off_tells_the_trainer_nothing(facts, tmp_path):
    _, plan = plan_for(tmp_path, {"validation": {"enabled": False}})
    assert not {"validation_seed", "validate_every_n_steps"} & set(facts.parse(plan.trainer_args))
    assert "validation_split" not in plan.dataset_config["datasets"][0]


def test_the_estimate_prices_the_run_the_plan_describes():
    cfg = ExperimentConfig.model_validate({"hardware": {"price_per_hour": 2.5}})
    e = estimate(run_shape(cfg), cfg.hardware.price_per_hour)
    assert e.parts[0] == ("3000 steps x 2.00 s", 6000.0)
    assert (
        e.parts[2][0] == "validation 12 x 7 batches x 4 timesteps"
    )  # 14 held out at batch 2, every 250 steps
    assert e.cost == pytest.approx(e.seconds / 3600 * 2.5)


@pytest.mark.parametrize(
    "toml,line",
    [
        (
            "[dataset]\ncount = 4\n[validation]\nimages = 4\n",
            "D/exp.toml: [validation] holds out 4 of [dataset] count 4 images and leaves no training image; "
            "lower share or images, or raise count",
        ),
        (
            '[notify]\nwebhook_url = "ftp://example.invalid/secret-token"\n',
            "D/exp.toml: [notify] webhook_url must start with https:// (or http://) (the value is a secret and is not shown)",
        ),
        (
            "[hardware]\nprice_per_hour = -1.5\n",
            "D/exp.toml: [hardware] price_per_hour: Input should be greater than or equal to 0 (got -1.5)",
        ),
    ],
)
def test_each_refusal_is_one_line(tmp_path, toml, line):
    path = tmp_path / "exp.toml"
    path.write_text(toml)
    with pytest.raises(UserError) as e:
        load_config(path)
    assert str(e.value).replace(str(tmp_path), "D") == line


def test_plan_prints_the_duration_and_with_a_price_the_cost(tmp_path, capsys, monkeypatch):
    from ascii_lora.cli import main

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "exp.toml"
    path.write_text(f'[training]\noutput_dir = "{tmp_path / "run"}"\n')
    assert main(["plan", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "expected duration 1 h 50 min (measured on one NVIDIA H100 80GB HBM3" in out and "cost" not in out
    path.write_text(f'[training]\noutput_dir = "{tmp_path / "run"}"\n[hardware]\nprice_per_hour = 2.5\n')
    assert main(["plan", "--config", str(path)]) == 0
    assert "expected duration 1 h 50 min, cost 4.59 at 2.5 per hour" in capsys.readouterr().out


def test_a_share_that_rounds_to_no_image_is_a_warning_of_the_experiment():
    assert ExperimentConfig.model_validate({"dataset": {"count": 8}}).warnings() == [
        "[validation] share 0.05 of [dataset] count 8 holds out no image: no validation loss will be reported; "
        "raise share or set images"
    ]
    assert (
        ExperimentConfig.model_validate(
            {"dataset": {"count": 8}, "validation": {"enabled": False}}
        ).warnings()
        == []
    )
