"""A finished, verified run on disk, as train and verify leave it (small fake files, real formats)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tomli_w
from PIL import Image

from ascii_lora.check.score import ImageReport
from ascii_lora.config.models import ExperimentConfig
from ascii_lora.dataset.writer import write_dataset
from ascii_lora.verify.jobs import Checkpoint, Job
from ascii_lora.verify.report import Scored, summarise

from .fakes import fake_lora

NAME = "flux_ascii_structure_v1"
MODULES = {"lora_unet_double_blocks_0_img_attn_proj": {"in_features": 8, "out_features": 8}}
PROMPTS = ["ascii_structure_style, a dungeon", "ascii_structure_style, a cave"]
SEEDS = [0, 1, 2, 3, 4, 5, 6, 7]


def experiment(tmp: Path) -> ExperimentConfig:
    return ExperimentConfig.model_validate(
        {
            "dataset": {"count": 2, "resolution": 384, "out": str(tmp / "data")},
            "training": {
                "resolution": 384,
                "output_dir": str(tmp / "run"),
                "max_train_steps": 4,
                "save_every_n_steps": 2,
            },
            "sample": {"width": 256, "height": 256, "prompts": PROMPTS},
            "network": {"dim": 4, "alpha": 2.0},
        }
    )


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((32, 32), value, dtype=np.uint8)).save(path)


def _verdicts(ck: Checkpoint, run: Path, passed_seeds: set[int]) -> list[Scored]:
    """Prompt 0 passes at ``passed_seeds``; prompt 1 never passes (its second criterion fails)."""
    out = []
    for p in range(len(PROMPTS)):
        for s in SEEDS:
            png = run / "verify" / ck.key / f"p{p:02d}_s{s:04d}.png"
            _png(png, 255 if p == 0 and s in passed_seeds else 40)
            ok = p == 0 and s in passed_seeds
            png.with_suffix(".ascii").write_text(f"{ck.key} p{p} s{s}\n")
            crit = {"content": True, "black_background": ok or p == 0, "crisp": True, "grid_aligned": ok}
            out.append(
                Scored(Job(ck, p, PROMPTS[p], s, png, {}), ImageReport(str(png), passed=ok, criteria=crit))
            )
    return out


def verified_run(tmp: Path, cfg: ExperimentConfig) -> dict[str, Path]:
    """Steps 2, 4 and the final file; verify drew the base model (0/16) and step 4 (8/16: p0, every seed)."""
    run = Path(cfg.training.output_dir)
    run.mkdir(parents=True)
    files = {
        s: fake_lora(run / f"{NAME}-step{s:08d}.safetensors", MODULES, 4, 2.0, {"ss_steps": str(s)})
        for s in (2, 4)
    }
    files["final"] = fake_lora(run / f"{NAME}.safetensors", MODULES, 4, 2.0, {"ss_steps": "4"})
    (run / f"{NAME}-step00000002-state").mkdir()
    (run / f"{NAME}-step00000002-state" / "optimizer.bin").write_bytes(b"state")
    (run / "train.sh").write_text(f"cd {run} && accelerate launch ...\n")
    (run / "train.log").write_text("log\n")
    atomic_toml = tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True))
    (run / "config.resolved.toml").write_text(atomic_toml)
    base, s4 = Checkpoint("baseline", 0, None), Checkpoint("step00000004", 4, files[4])
    scored = _verdicts(base, run, set()) + _verdicts(s4, run, set(SEEDS))
    summary = summarise(scored, [base, s4], PROMPTS, SEEDS)
    payload = {
        "settings": {
            "width": 256,
            "height": 256,
            "steps": 2,
            "guidance": 3.5,
            "multiplier": 1.0,
            "precision": "bf16",
            "seeds": SEEDS,
            "prompts": PROMPTS,
        },
        "winner": summary.verdict.winner,
        "winner_file": str(summary.winner.checkpoint.path),
        "checkpoints": [r.as_dict() for r in summary.results],
        "images": [
            {
                "checkpoint": s.job.checkpoint.key,
                "prompt": s.job.prompt_index,
                "seed": s.job.seed,
                "file": str(s.job.out),
                "passed": s.report.passed,
                "error": None,
            }
            for s in scored
        ],
        "notes": [],
        "stand_in": False,
    }
    (run / "verify" / "scores.json").write_text(json.dumps(payload))
    (run / "verify" / "report.md").write_text(f"# report\n**Winner: step 4** - `{files[4]}`\n")
    _png(run / "verify" / "chart.png", 128)
    _png(run / "verify" / "contact_sheet.png", 128)
    write_dataset(cfg.dataset, Path(cfg.dataset.out))
    (Path(cfg.dataset.out) / "x_flux.npz").write_bytes(b"latent cache")
    return {"run": run, "winner": files[4], "final": files["final"], "step2": files[2]}


def samples(run: Path, step: int) -> list[Path]:
    """sd-scripts' sample names: <output_name>_<step 6>_<prompt 2>_<timestamp 14>.png."""
    out = []
    for i in range(len(PROMPTS)):
        p = run / "sample" / f"{NAME}_{step:06d}_{i:02d}_20261206120000.png"
        _png(p, 200)
        out.append(p)
    return out
