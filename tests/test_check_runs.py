"""The checker reads a real run's samples as sd-scripts names them, per cumulative step, from any run dir."""

from __future__ import annotations

import json

from PIL import Image

from ascii_lora.check.ranking import label, parse_sample_name, rank
from ascii_lora.check.score import ImageReport
from ascii_lora.cli import main
from ascii_lora.config.models import ExperimentConfig
from ascii_lora.train.preflight import estimate_run_bytes

from .test_check import picture

NAME = "flux_ascii_structure_v1"


def test_the_real_step_0_baseline_name_is_the_baseline_at_step_0():
    # sd-scripts draws --sample_at_first with epoch 0: {name}_e000000_NN_... (seen in a rehearsal at the pin)
    assert parse_sample_name(f"{NAME}_e000000_00_20261126094105_1234") == (NAME, "step", 0)
    assert parse_sample_name(f"{NAME}_e000003_00_20261126094105_1234") == (NAME, "epoch", 3)


def report(stem: str, passed: bool) -> ImageReport:
    return ImageReport(
        file=f"run/sample/{stem}.png",
        passed=passed,
        grey_fraction=0.0,
        cell_agreement=1.0 if passed else 0.0,
        criteria={"content": passed, "black_background": passed, "crisp": passed, "grid_aligned": passed},
    )


def test_baseline_ranks_first_and_is_never_best_even_when_it_scores_highest():
    scores = rank(
        [
            report(f"{NAME}_000002_00_20261126094420_1234", False),
            report(f"{NAME}_e000000_00_20261126094105_1234", True),
            report(f"{NAME}_000004_00_20261126095000_1234", False),
        ]
    )
    assert [(s.kind, s.number) for s in scores] == [("step", 0), ("step", 2), ("step", 4)]
    assert label(scores[0]) == "step 0 (base model)" and not scores[0].best


def test_two_models_at_one_step_count_once_each_prompt_newest_first():
    # a run resumed before segments existed drew "step 2" again with another LoRA
    scores = rank(
        [
            report(f"{NAME}_000002_00_20261126101500_1234", True),  # the newer model, listed first
            report(f"{NAME}_000002_00_20261126094420_1234", False),
            report(f"{NAME}_000002_01_20261126094458_1234", False),
            report(f"{NAME}_000002_01_20261126101530_1234", True),
        ]
    )
    assert len(scores) == 1
    s = scores[0]
    assert (s.images, s.passed, s.superseded) == (2, 2, 2)


def test_check_run_dir_reads_that_runs_samples_and_writes_beside_them(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "elsewhere"
    (run / "sample").mkdir(parents=True)
    img = picture("maze")[0]
    Image.fromarray(img).convert("RGB").save(run / "sample" / f"{NAME}_e000000_00_20261126094105_1234.png")
    Image.fromarray(img).convert("RGB").save(run / "sample" / f"{NAME}_000002_00_20261126094420_1234.png")
    assert main(["check", "--run-dir", str(run)]) == 0
    data = json.loads((run / "check" / "report.json").read_text())
    assert [c["number"] for c in data["checkpoints"]] == [0, 2]
    assert "step 0 (base model)" in (run / "check" / "report.md").read_text()
    capsys.readouterr()
    assert main(["check", "--run-dir", str(run), str(run / "sample")]) == 2
    assert "not both" in capsys.readouterr().err


def test_disk_estimate_counts_text_encoder_caches_as_float32():
    # measured in a rehearsal at the pinned commit: one caption's *_flux_te.npz is 8,403,205 bytes
    cfg = ExperimentConfig.model_validate(
        {"training": {"cache_latents_to_disk": False, "max_train_steps": 1, "save_every_n_steps": 1}}
    )
    per_caption = estimate_run_bytes(cfg, 1001) - estimate_run_bytes(cfg, 1)
    assert abs(per_caption / 1000 - 8_403_205) < 0.01 * 8_403_205
