"""`generate`: prompt in, pictures with verdict and ASCII out; the worker's far side is faked."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ascii_lora.cli import main
from ascii_lora.config.models import ExperimentConfig
from ascii_lora.errors import UserError
from ascii_lora.grid.layout import grid_text
from ascii_lora.verify.draw_worker import run_jobs
from ascii_lora.verify.generate import plan_generate, resolve_lora, run_generate, slug

from .test_verify_sweep import NAME, gpu_box
from .verify_helpers import (
    make_models,
    make_run,
    noise_picture,
    perfect_codes,
    perfect_picture,
    save_like_sd_scripts,
)


class Drawer:
    """Seed 0: perfect; seed 1: perfect but 5,3 px off the grid (a near-miss); others: noise."""

    def __init__(self):
        self.specs = []

    def __call__(self, spec, on_event):
        self.specs.append(spec)

        def draw(job, folder):
            s = job["seed"]
            pic = (
                perfect_picture(s)
                if s == 0
                else np.roll(perfect_picture(s, margin=2), (3, 5), (0, 1))
                if s == 1
                else noise_picture(s)
            )
            save_like_sd_scripts(folder, pic)

        run_jobs(spec["jobs"], draw, on_event)
        return 0


@pytest.fixture
def box(tmp_path):
    make_models(tmp_path)
    (tmp_path / "vendor" / "sd-scripts").mkdir(parents=True)
    (tmp_path / "vendor" / "sd-scripts" / "flux_minimal_inference.py").write_text("# stand-in\n")
    run_dir = tmp_path / "runs" / "r"
    make_run(run_dir, NAME, [500], final_steps=1000)
    return ExperimentConfig(), tmp_path, run_dir


def test_slug_is_the_prompts_words_without_the_trigger():
    assert (
        slug("ascii_structure_style, Dungeon map: 6 rooms!", "ascii_structure_style") == "dungeon_map_6_rooms"
    )
    assert slug("ascii_structure_style", "ascii_structure_style") == "image"
    assert len(slug("word " * 40, "x")) <= 40


def test_trigger_word_added_seeds_counted_and_files_named(box):
    cfg, root, run_dir = box
    req = plan_generate(
        cfg, root, run_dir, "dungeon map, white on black", count=3, seed=40, out=str(root / "out")
    )
    assert req.added_trigger and req.prompt == "ascii_structure_style, dungeon map, white on black"
    assert req.seeds == [40, 41, 42] and req.seed_given
    assert [j.out.name for j in req.jobs] == [
        "dungeon_map_white_on_black-s40.png",
        "dungeon_map_white_on_black-s41.png",
        "dungeon_map_white_on_black-s42.png",
    ]
    assert all(j.prompt == req.prompt for j in req.jobs)


def test_without_a_seed_each_call_draws_new_pictures(box):
    cfg, root, run_dir = box
    seeds = {plan_generate(cfg, root, run_dir, "maze", count=1).seeds[0] for _ in range(5)}
    assert len(seeds) > 1


def test_lora_default_is_the_verify_winner_then_the_final_lora(box):
    cfg, root, run_dir = box
    assert resolve_lora(cfg, run_dir, None) == (run_dir / f"{NAME}.safetensors", "the run's final LoRA")
    (run_dir / "verify").mkdir()
    (run_dir / "verify" / "scores.json").write_text(
        json.dumps({"winner_file": str(run_dir / f"{NAME}-step00000500.safetensors")})
    )
    assert resolve_lora(cfg, run_dir, None)[0] == run_dir / f"{NAME}-step00000500.safetensors"
    assert resolve_lora(cfg, run_dir, "none")[0] is None
    with pytest.raises(UserError, match="--lora nope.safetensors: no such file"):
        resolve_lora(cfg, run_dir, "nope.safetensors")
    with pytest.raises(UserError, match="pass --lora FILE"):
        resolve_lora(cfg, root / "empty", None)


def test_each_picture_gets_its_verdict_and_ascii_and_snap_repairs_only_near_misses(box):
    cfg, root, run_dir = box
    out = root / "out"
    req = plan_generate(cfg, root, run_dir, "dungeon", count=3, seed=0, out=str(out))
    res = run_generate(cfg, root, req, snap=True, drawer=Drawer(), probes=gpu_box())
    assert res.error is None and res.failed_checks == [] and res.drawn_now == 3
    good, shifted, noise = res.pictures
    assert good.report.passed and good.snapped_path is None
    assert good.ascii_path.read_text() == grid_text(perfect_codes(0))
    assert not shifted.report.passed and shifted.snapped_path == out / "dungeon-s1.snapped.png"
    assert shifted.moved == (-5, -3) and shifted.ascii_path.read_text() == grid_text(
        perfect_codes(1, margin=2)
    )
    with Image.open(shifted.snapped_path) as im:
        assert np.array_equal(np.asarray(im.convert("L")), perfect_picture(1, margin=2))
    assert not noise.report.passed and noise.snapped_path is None
    assert "?" in noise.ascii_path.read_text()
    verdict = json.loads((out / "dungeon-s1.check.json").read_text())
    assert verdict["criteria"]["grid_aligned"] is False and verdict["snapped"].endswith(
        "dungeon-s1.snapped.png"
    )
    assert verdict["prompt"] == "ascii_structure_style, dungeon" and verdict["lora"].endswith(
        f"{NAME}.safetensors"
    )
    assert res.sheet == out / "dungeon-s0-n3.sheet.png" and res.sheet.stat().st_size > 0


def test_without_snap_nothing_is_repaired(box):
    cfg, root, run_dir = box
    req = plan_generate(cfg, root, run_dir, "dungeon", count=2, seed=0, out=str(root / "out"))
    res = run_generate(cfg, root, req, drawer=Drawer(), probes=gpu_box())
    assert [p.snapped_path for p in res.pictures] == [None, None]
    assert not (root / "out" / "dungeon-s1.snapped.png").exists()


def test_the_same_request_again_draws_nothing(box):
    cfg, root, run_dir = box
    run_generate(
        cfg,
        root,
        plan_generate(cfg, root, run_dir, "dungeon", count=2, seed=0, out=str(root / "out")),
        drawer=Drawer(),
        probes=gpu_box(),
    )
    req = plan_generate(cfg, root, run_dir, "dungeon", count=2, seed=0, out=str(root / "out"))
    assert req.pending == []
    res = run_generate(cfg, root, req, drawer=Drawer(), probes=gpu_box(gpus=[], torch_cuda=False))
    assert res.drawn_now == 0 and len(res.pictures) == 2 and res.error is None


@pytest.mark.parametrize("prompt,msg", [("   ", "the prompt is empty"), ("two\nlines", "one line")])
def test_bad_prompts_are_refused(box, prompt, msg):
    cfg, root, run_dir = box
    with pytest.raises(UserError, match=msg):
        plan_generate(cfg, root, run_dir, prompt)


def test_cli_without_a_gpu_refuses_in_one_line_and_draws_nothing(box, capsys, monkeypatch):
    cfg, root, run_dir = box
    monkeypatch.chdir(root)
    lora = run_dir / f"{NAME}.safetensors"
    code = main(
        [
            "generate",
            "a cave",
            "--lora",
            str(lora),
            "--out",
            str(root / "o"),
            "--seed",
            "3",
            "--device",
            "cuda",
        ]
    )
    out, err = capsys.readouterr()
    if code == 0:  # pragma: no cover - a CUDA box
        pytest.skip("this machine has a CUDA GPU")
    assert code == 1
    assert "added the trigger word" in out and "Traceback" not in out + err
    assert err.count("error:") == 1 and "pre-flight checks failed (no CUDA GPU is visible" in err
    assert not any((root / "o").glob("*.png"))


def test_cli_verify_dry_run_lists_the_work(box, capsys, monkeypatch):
    cfg, root, run_dir = box
    monkeypatch.chdir(root)
    assert main(["verify", "--run-dir", str(run_dir), "--dry-run", "--seeds", "2"]) == 0
    out, _ = capsys.readouterr()
    assert (
        "3 checkpoint(s) incl. the base model x 4 prompts x 2 seeds = 24 pictures: 0 already drawn, 24 to draw"
        in out
    )
    assert "nothing was drawn" in out and not (run_dir / "verify").exists()


def test_cli_verify_without_checkpoints_is_one_clear_line(box, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(box[1])
    assert main(["verify", "--run-dir", str(tmp_path / "nothing")]) == 2
    _, err = capsys.readouterr()
    assert "no saved LoRA yet" in err and "Traceback" not in err


def test_relative_lora_and_out_reach_the_worker_as_absolute_paths(box, monkeypatch):
    cfg, root, run_dir = box
    monkeypatch.chdir(root)
    req = plan_generate(
        cfg,
        root,
        run_dir.relative_to(root),
        "maze",
        lora=f"runs/r/{NAME}-step00000500.safetensors",
        count=1,
        seed=0,
        out="gen",
    )
    assert req.lora == run_dir / f"{NAME}-step00000500.safetensors"
    assert req.jobs[0].out == root / "gen" / "maze-s0.png"
