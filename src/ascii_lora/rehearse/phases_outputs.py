"""Phases over what training left: every LoRA's metadata, the checker on the samples, verify, generate."""

from __future__ import annotations

import json
import re

from .judging import _expect, _step_of
from .overrides import expected_outputs
from .processes import _cli
from .state import RehearsalState


def inspect(s: RehearsalState) -> str:
    pre, run_dir, name = s.pre, s.run_dir, s.name
    from ..train.lora_inspect import inspect_lora

    files = sorted(run_dir.glob(f"{name}*.safetensors"))
    _expect(files, "no LoRA in the run directory")
    for f in files:
        info = inspect_lora(f, pre)
        _expect(info.rank == pre.network.dim, f"{f.name}: rank {info.rank}, config dim {pre.network.dim}")
        want = _step_of(f.name, name) or pre.training.max_train_steps
        got = info.training.get("steps", info.training.get("ss_steps"))
        _expect(
            str(got) == str(want), f"{f.name}: its metadata says {got} steps, its place in the run {want}"
        )
    return f"{len(files)} LoRAs: rank {pre.network.dim}, steps in each file's metadata match its name"


def check(s: RehearsalState) -> str:
    pre, run_dir = s.pre, s.run_dir
    from ..check.run import CheckOutputs, run_check

    o = run_dir / "check"
    run = run_check(
        [str(run_dir / "sample")],
        pre,
        CheckOutputs(json=o / "report.json", overlay_dir=o / "overlays", ascii_dir=o / "ascii", report_dir=o),
    )
    _expect(run.errors == 0, f"{run.errors} samples unreadable")
    per_step = {s.number: s.images for s in run.scores if s.kind == "step"}
    want = expected_outputs(pre)["sample_steps"]
    prompts = len(pre.sample.prompts)
    _expect(
        per_step == {k: prompts for k in want},
        f"ranked per step {per_step}, expected {prompts} images at each of {want}",
    )
    _expect(run.best is not None and run.best.number > 0, "the step-0 baseline was ranked best")
    _expect(all(s.superseded == 0 for s in run.scores), "two models drew the same step")
    return (
        f"{len(run.reports)} samples, one group per cumulative step {want}, baseline at step 0; "
        f"{run.passed} pass (random stand-ins draw noise); report {o / 'report.md'}"
    )


def verify(s: RehearsalState) -> str:
    pre, root, out, run_dir, config_file, name = s.pre, s.root, s.out, s.run_dir, s.config_file, s.name
    train_timeout = s.train_timeout
    # the last LoRA and the base model, one seed: every file, name and report, not statistics
    argv = [
        "verify",
        "--config",
        str(config_file),
        "--checkpoints",
        "last",
        "--seeds",
        "1",
        "--device",
        "cpu",
    ]
    code, text = _cli(root, argv, out / "verify.log", train_timeout)
    _expect(code == 0, f"ascii-lora verify exited {code}: {text[-300:]}")
    vdir = run_dir / "verify"
    prompts = len(pre.sample.prompts)
    folders = sorted(p.name for p in vdir.iterdir() if p.is_dir())
    last = f"step{pre.training.max_train_steps:08d}"  # sd-scripts saves the last step and the final file: the same weights, drawn once
    want = ["baseline", last if (run_dir / f"{name}-{last}.safetensors").exists() else "final"]
    _expect(folders == want, f"verify drew into {folders}, expected {want}")
    for f in folders:
        for i in range(prompts):
            png = vdir / f / f"p{i:02d}_s0000.png"
            for extra in (".job.json", ".check.json", ".ascii"):
                _expect(png.with_name(png.stem + extra).is_file(), f"{png.name} lacks its {extra}")
            with open(png, "rb") as fh:
                head = fh.read(24)
            size = (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"))
            _expect(
                size == (pre.sample.width, pre.sample.height),
                f"{png} is {size}, [sample] asks {pre.sample.width}x{pre.sample.height}",
            )
    scores = json.loads((vdir / "scores.json").read_text())
    _expect(
        len(scores["images"]) == 2 * prompts,
        f"scores.json holds {len(scores['images'])} verdicts, {2 * prompts} drawn",
    )
    lora = str(run_dir / (f"{name}-{last}.safetensors" if want[1] == last else f"{name}.safetensors"))
    _expect(scores["winner_file"] == lora, f"winner {scores['winner_file']}, expected {lora}")
    s.winner_file = lora
    for f in ("report.md", "chart.png", "contact_sheet.png"):
        _expect((vdir / f).is_file(), f"verify wrote no {f}")
    _expect(
        "stand-in models" in (vdir / "report.md").read_text(),
        "the report does not say it was drawn with stand-ins",
    )
    seconds = [float(m) for m in re.findall(r'"seconds": ([0-9.]+)', (vdir / "draw.log").read_text())]
    s.verify_s_per_image = (
        round(sum(seconds[1:]) / max(1, len(seconds) - 1), 1) if seconds else None
    )  # [0] is loading
    code, text = _cli(root, argv, out / "verify-again.log", 600)
    _expect(code == 0 and "0 to draw" in text, f"a second verify would draw again: {text[-300:]}")
    return (
        f"{2 * prompts} pictures (base model + final LoRA, {prompts} prompts, 1 seed), verdicts, report, chart and sheet; "
        f"{s.verify_s_per_image} s per picture; a second call drew nothing"
    )


def generate(s: RehearsalState) -> str:
    root, out, config_file, train_timeout = s.root, s.out, s.config_file, s.train_timeout
    gen = out / "generated"
    argv = [
        "generate",
        "dungeon map, 6 rooms",
        "--config",
        str(config_file),
        "--count",
        "2",
        "--seed",
        "5",
        "--out",
        str(gen),
        "--snap",
        "--device",
        "cpu",
    ]
    code, text = _cli(root, argv, out / "generate.log", train_timeout)
    _expect(code == 0, f"ascii-lora generate exited {code}: {text[-300:]}")
    _expect("added the trigger word" in text, "generate did not say it added the trigger word")
    for seed in (5, 6):
        stem = gen / f"dungeon_map_6_rooms-s{seed}"
        for extra in (".png", ".check.json", ".ascii"):
            _expect(stem.with_name(stem.name + extra).is_file(), f"generate wrote no {stem.name}{extra}")
    _expect((gen / "dungeon_map_6_rooms-s5-n2.sheet.png").is_file(), "generate wrote no contact sheet")
    verdict = json.loads((gen / "dungeon_map_6_rooms-s5.check.json").read_text())
    _expect(
        verdict["prompt"].startswith("ascii_structure_style, ") and verdict["lora"] == s.winner_file,
        f"picture drawn with {verdict['prompt']!r} and {verdict['lora']}, expected the trigger word and verify's winner",
    )
    return f"2 pictures + verdicts + .ascii + sheet in {gen}, trigger word added, LoRA = verify's winner"
