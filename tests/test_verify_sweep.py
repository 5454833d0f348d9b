"""`verify` end to end on CPU: the drawing worker's far side is faked (pictures of known verdict),
everything else (job list, files, resumption, checker, report, winner) is the real thing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ascii_lora.config.models import ExperimentConfig, VerifyConfig
from ascii_lora.grid.layout import grid_text
from ascii_lora.train.kohya.plan import SD_SCRIPTS_COMMIT
from ascii_lora.train.probes import Gpu, Probes
from ascii_lora.verify.draw_worker import run_jobs
from ascii_lora.verify.drawing import choose_precision
from ascii_lora.verify.preflight import check_gpu
from ascii_lora.verify.sweep import plan_sweep, run_sweep, winner_file

from .verify_helpers import (
    make_models,
    make_run,
    noise_picture,
    perfect_codes,
    perfect_picture,
    save_like_sd_scripts,
)

NAME = "flux_ascii_structure_v1"


def gpu_box(**over) -> Probes:
    base = dict(
        gpus=[Gpu("NVIDIA H100", 80.0)],
        torch_cuda=True,
        modules={"torch": True, "accelerate": True, "transformers": True},
        submodule_head=SD_SCRIPTS_COMMIT,
        free_bytes=10**12,
    )
    return Probes(**{**base, **over})


def quality(job: dict) -> bool:
    """Known verdicts: base model never passes, step 500 only at seed 0, step 1000 all but p00 seed 0, final always."""
    lora = Path(job["lora"]).name if job["lora"] else None
    p = int(Path(job["out"]).name[1:3])
    if lora is None:
        return False
    if "step00000500" in lora:
        return job["seed"] == 0
    if "step00001000" in lora:
        return not (p == 0 and job["seed"] == 0)
    return True


def shifted(job: dict) -> bool:
    return bool(job["lora"]) and "step00000500" in job["lora"] and job["seed"] == 1


class FakeDrawer:
    """Stands where ``python draw_worker.py`` stands: the real job loop, pictures from numpy."""

    def __init__(self, stop_after: int | None = None, fail: bool = False):
        self.specs, self.drawn, self.stop_after, self.fail = [], 0, stop_after, fail

    def __call__(self, spec, on_event):
        self.specs.append(spec)

        def draw(job, folder):
            if self.stop_after is not None and self.drawn >= self.stop_after:
                raise KeyboardInterrupt
            if self.fail:
                raise RuntimeError("CUDA out of memory")
            self.drawn += 1
            seed = job["seed"] + 100 * int(Path(job["out"]).name[1:3])
            if shifted(job):  # crisp on black, but 5,3 px off the grid: fails alignment only
                save_like_sd_scripts(folder, np.roll(perfect_picture(seed, margin=2), (3, 5), (0, 1)))
            else:
                save_like_sd_scripts(folder, perfect_picture(seed) if quality(job) else noise_picture(seed))

        try:
            run_jobs(spec["jobs"], draw, on_event)
        except RuntimeError as e:
            on_event({"event": "error", "message": f"RuntimeError: {e}"})
            return 1
        return 0


@pytest.fixture
def setup(tmp_path):
    root = tmp_path
    make_models(root)
    (root / "vendor" / "sd-scripts").mkdir(parents=True)
    (root / "vendor" / "sd-scripts" / "flux_minimal_inference.py").write_text("# stand-in\n")
    run_dir = root / "runs" / "r"
    make_run(run_dir, NAME, [500, 1000], final_steps=1500)
    cfg = ExperimentConfig(verify=VerifyConfig(seeds=4))
    return cfg, root, run_dir


def sweep(setup, drawer, probes=None, **kw):
    cfg, root, run_dir = setup
    plan = plan_sweep(cfg, root, run_dir, **kw)
    return plan, run_sweep(cfg, root, run_dir, plan, drawer=drawer, probes=probes or gpu_box())


def test_every_checkpoint_and_the_base_model_are_drawn_scored_and_ranked(setup):
    cfg, root, run_dir = setup
    drawer = FakeDrawer()
    plan, out = sweep(setup, drawer)
    assert out.error is None and out.failed_checks == []
    assert drawer.drawn == len(plan.jobs) == 4 * 4 * 4  # (base + 3 LoRAs) x 4 prompts x 4 seeds
    v = run_dir / "verify"
    assert sorted(p.name for p in v.iterdir() if p.is_dir()) == [
        "baseline",
        "final",
        "step00000500",
        "step00001000",
    ]
    for ck in ("baseline", "final"):
        names = sorted(p.name for p in (v / ck).iterdir())
        assert names == sorted(
            f"p{i:02d}_s{s:04d}{ext}"
            for i in range(4)
            for s in range(4)
            for ext in (".png", ".job.json", ".check.json", ".ascii")
        )
    verdict = json.loads((v / "final" / "p01_s0002.check.json").read_text())
    assert verdict["passed"] is True and verdict["criteria"] == {
        "content": True,
        "black_background": True,
        "crisp": True,
        "grid_aligned": True,
    }
    assert (v / "final" / "p01_s0002.ascii").read_text() == grid_text(perfect_codes(2 + 100))

    scores = json.loads((v / "scores.json").read_text())
    by = {c["checkpoint"]: c for c in scores["checkpoints"]}
    assert [
        (k, by[k]["passed"], by[k]["images"]) for k in ("baseline", "step00000500", "step00001000", "final")
    ] == [("baseline", 0, 16), ("step00000500", 4, 16), ("step00001000", 15, 16), ("final", 16, 16)]
    # Wilson 95 % by hand: 15/16 -> [0.7167, 0.9889]; 16/16 -> [16/19.8415, 1]; 0/16 -> [0, 3.8415/19.8415]
    assert by["step00001000"]["interval95"] == pytest.approx([0.7167, 0.9889], abs=1e-4)
    assert by["final"]["interval95"] == pytest.approx([0.8064, 1.0], abs=1e-4)
    assert by["baseline"]["interval95"] == pytest.approx([0.0, 0.1936], abs=1e-4)
    assert by["step00001000"]["criteria"]["grid_aligned"] == {"passed": 15, "rate": 0.9375}
    assert {k: c["passed"] for k, c in by["step00000500"]["criteria"].items()} == {
        "content": 16,
        "black_background": 8,
        "crisp": 8,
        "grid_aligned": 4,
    }
    assert by["step00001000"]["per_prompt"]["0"] == {"passed": 3, "images": 4}
    # 15/16 and 16/16 overlap: tied, and the earlier step wins; the base model never does
    assert scores["winner"] == "step00001000" and by["final"]["best"] and not by["final"]["winner"]
    assert scores["winner_file"] == str(run_dir / f"{NAME}-step00001000.safetensors")
    assert winner_file(run_dir) == run_dir / f"{NAME}-step00001000.safetensors"

    report = (v / "report.md").read_text()
    assert "**Winner: step 1000** - 15/16 = 94% [72%, 99%]" in report
    assert "Highest pass rate: final (step 1500), 16/16 = 100%" in report
    assert "clearly better than the base model" in report
    assert "| base model | 16 | 0 | 0% | 0%-19% |" in report
    assert "Wilson" in report and "chart.png" in report and "contact_sheet.png" in report
    with Image.open(v / "chart.png") as im:
        assert im.size == (900, 440)
    with Image.open(v / "contact_sheet.png") as im:
        assert im.width > 8 * 150 and im.height > 4 * 150  # 4 prompts x (4 base + 4 winner)


def test_a_finished_sweep_draws_nothing_and_needs_no_gpu_to_report_again(setup):
    sweep(setup, FakeDrawer())
    (setup[2] / "verify" / "report.md").unlink()
    plan, out = sweep(setup, FakeDrawer(fail=True), probes=gpu_box(gpus=[], torch_cuda=False))
    assert plan.pending == [] and out.error is None and out.failed_checks == []
    assert (setup[2] / "verify" / "report.md").exists()


def test_an_interrupted_sweep_resumes_with_exactly_the_missing_pictures(setup):
    first = FakeDrawer(stop_after=21)
    with pytest.raises(KeyboardInterrupt):
        sweep(setup, first)
    plan = plan_sweep(*setup)
    assert len(plan.pending) == 64 - 21
    rest = FakeDrawer()
    _, out = sweep(setup, rest)
    assert rest.drawn == 64 - 21 and out.error is None
    assert [j["out"] for j in rest.specs[0]["jobs"]] == [str(j.out) for j in plan.pending]


def test_more_seeds_later_draws_only_the_new_seeds(setup):
    sweep(setup, FakeDrawer())
    more = FakeDrawer()
    _, out = sweep(setup, more, seeds=6)
    assert more.drawn == 4 * 4 * 2
    assert sorted({j["seed"] for j in more.specs[0]["jobs"]}) == [4, 5]
    assert out.summary.results[0].images == 24


def test_without_a_gpu_nothing_is_drawn_and_the_reason_is_the_first_check(setup):
    drawer = FakeDrawer()
    _, out = sweep(setup, drawer, probes=gpu_box(gpus=[], torch_cuda=False))
    assert drawer.specs == []
    gpu = out.failed_checks[0]
    assert gpu.name == "CUDA GPU" and "no CUDA GPU" in gpu.detail and "--dry-run" in gpu.fix
    assert not (setup[2] / "verify" / "report.md").exists()


def test_a_worker_failure_is_reported_and_no_report_is_written(setup):
    _, out = sweep(setup, FakeDrawer(fail=True))
    assert out.error == "RuntimeError: CUDA out of memory"
    assert not (setup[2] / "verify" / "report.md").exists()


def test_chosen_checkpoints_without_the_base_model(setup):
    drawer = FakeDrawer()
    plan, out = sweep(setup, drawer, checkpoints="500,final", baseline=False)
    assert [c.key for c in plan.checkpoints] == ["step00000500", "final"]
    assert not (setup[2] / "verify" / "baseline").exists()
    assert out.summary.verdict.winner == "final"
    assert "Against the base model" not in (setup[2] / "verify" / "report.md").read_text()


def test_only_lora_files_to_be_drawn_are_checked_before_drawing(setup):
    cfg, root, run_dir = setup
    (run_dir / f"{NAME}-step00000500.safetensors").write_bytes(b"not a safetensors file at all")
    _, out = sweep(setup, FakeDrawer(), checkpoints="1000")
    assert out.failed_checks == []
    _, out = sweep(setup, FakeDrawer(), checkpoints="500")
    assert [c.name for c in out.failed_checks] == [f"LoRA {NAME}-step00000500.safetensors"]


def test_paths_handed_to_the_worker_are_absolute_whatever_the_working_directory(setup, monkeypatch):
    """The worker runs from vendor/sd-scripts: a relative run directory (the default runs/flux_ascii) would land there."""
    cfg, root, run_dir = setup
    monkeypatch.chdir(root)
    drawer = FakeDrawer()
    plan = plan_sweep(cfg, root, Path("runs/r"), checkpoints="500", seeds=1, baseline=False)
    out = run_sweep(cfg, root, Path("runs/r"), plan, drawer=drawer, probes=gpu_box())
    jobs = drawer.specs[0]["jobs"]
    assert jobs and all(Path(j["out"]).is_absolute() and Path(j["lora"]).is_absolute() for j in jobs)
    assert out.outputs["report"] == run_dir / "verify" / "report.md"


# -- the card's memory, against what drawing was measured to need (rehearse --full-size, H100) -------------


def _gpu_check(precision_name: str, total_gib: float):
    cfg = ExperimentConfig(verify=VerifyConfig(precision=precision_name))
    return check_gpu(choose_precision(cfg), Probes(gpus=[Gpu("card", total_gib)], torch_cuda=True))


@pytest.mark.parametrize(
    "precision,total_gib,ok",
    [
        ("bf16", 40.0, True),  # an A100 40GB: 38.6 GiB reserved at peak + the CUDA context
        ("bf16", 38.7, False),  # the peak alone fits, the context does not
        ("fp8", 15.99, True),  # a 16 GB card (16376 MiB)
        ("fp8", 14.9, False),  # 14.8 GiB reserved at peak + the CUDA context
    ],
)
def test_the_card_must_hold_the_measured_peak_of_its_precision(precision, total_gib, ok):
    check = _gpu_check(precision, total_gib)
    assert check.ok is ok, check.detail
    if not ok:
        assert f"{total_gib} GiB" in check.detail


def test_a_card_too_small_for_bf16_is_told_to_draw_in_fp8():
    assert _gpu_check("bf16", 24.0).fix == 'set [verify] precision = "fp8"'


def test_a_card_too_small_even_for_fp8_is_told_there_is_no_block_swap():
    assert "no block swap" in _gpu_check("fp8", 12.0).fix


def test_fp8_on_a_card_that_fits_bf16_names_the_faster_setting():
    assert (
        'precision = "bf16"' in _gpu_check("fp8", 80.0).detail and "faster" in _gpu_check("fp8", 80.0).detail
    )
    assert "faster" not in _gpu_check("fp8", 24.0).detail
    assert "faster" not in _gpu_check("bf16", 80.0).detail
