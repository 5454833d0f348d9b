"""`rehearse --compare`: our VRAM profile and each peer preset of its card class, side by side.

Why: a profile's numbers alone cannot tell a user whether FluxGym's 20G preset would serve them
better. Both kits run the same sd-scripts, so here the pinned trainer trains the same data, rank,
resolution and step count once per side, one side after the other in one call, on the same
stand-ins: each side's argv is our plan with every speed/memory flag (peers.SPEED_MEMORY_FLAGS)
replaced by that side's own, and its batch size in the dataset TOML. Speed is per image (batch
sizes differ); memory is the trainer's own peak, printed at exit by sd_launcher.py (CUDA
allocated/reserved on a GPU, peak RSS on the CPU). On the CPU with tiny stand-ins the numbers only
prove the harness; flags a CPU or a two-block stand-in cannot run are adapted, and each adaptation
is named in the result. Needs torch (the train environment) at run time, never at import time.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config.models import ExperimentConfig
from ..errors import UserError
from ..fsutil import atomic_write
from ..train.kohya.plan import SD_SCRIPTS_COMMIT, SD_SCRIPTS_DIR, TRAIN_SCRIPT, build_plan
from ..train.plan_files import write_plan
from . import standins as st
from .compare_report import CPU_LABEL, TINY_LABEL, add_ratios, measure_run, table
from .overrides import REHEARSAL, rehearsal_argv, rehearsal_config
from .peers import SPEED_MEMORY_FLAGS, PeerPreset, classes_with_peers, peers_for
from .profiles import run_group

# What a CPU or a 1+1-block stand-in cannot run, and why: the flag is dropped from that side.
CPU_ADAPTATIONS = {
    "--blocks_to_swap": "block swap shuttles blocks between the CPU and a CUDA device, and the tiny stand-in "
    "has 1 double + 1 single block",
    "--split_mode": "sd-scripts turns it into --blocks_to_swap 18 (deprecated at our pin), which needs CUDA "
    "and 18+ blocks",
    "--fp8_base": "fp8 base weights compute through a bf16 autocast, and the CPU form trains in fp32",
    "--full_bf16": "it requires --mixed_precision bf16, and the CPU form trains in fp32",
}
# Measured on the 2-core rehearsal box (no AVX-512) with the train env's torch 2.14.1+cu130: a
# 512x4096 @ 4096x4096 matmul took 0.96 s in fp32 and did not finish in 110 s in bf16.
CPU_FP32 = (
    "--mixed_precision bf16 -> no on every side (accelerate's and the trainer's): this CPU's torch "
    "runs bf16 matmuls over 100x slower than fp32, so a bf16 step would not end in a rehearsal"
)
FULL_SIZE_NEEDS_CUDA = (
    "rehearse --compare --full-size: the measurement needs a CUDA GPU (stand-ins of "
    "FLUX.1-dev's real sizes at 1024 px); without one, `rehearse --compare` runs the CPU "
    "plumbing form"
)


@dataclass(frozen=True)
class Side:
    """One trainer run of the comparison: whose preset, its batch, its speed/memory flags."""

    name: str
    kit: str
    source: dict
    batch: int
    flags: list[str]
    adapted: list[str] = field(default_factory=list)
    notes: tuple[str, ...] = ()


def split_flags(args: list[str], names: tuple[str, ...] | set[str]) -> tuple[list[str], list[str]]:
    """(args without the named flags, the named flags with their values): a value is every item up to
    the next ``--flag``, as argparse reads them."""
    kept: list[str] = []
    taken: list[str] = []
    target = kept
    for a in args:
        if a.startswith("--"):
            target = taken if a in names else kept
        target.append(a)
    return kept, taken


def with_flags(argv: list[str], flags: list[str]) -> list[str]:
    """``argv`` (accelerate launch ... script ARGS) with every speed/memory flag after the script
    replaced by ``flags``; the launch part (accelerate's own options) is left as it is."""
    i = next(k for k, a in enumerate(argv) if a.endswith(TRAIN_SCRIPT.name)) + 1
    kept, _ = split_flags(argv[i:], set(SPEED_MEMORY_FLAGS))
    return [*argv[:i], *kept, *flags]


def cpu_form(flags: list[str]) -> tuple[list[str], list[str]]:
    """``flags`` without what a CPU and the tiny stand-ins cannot run, and one line per dropped flag."""
    kept, dropped = split_flags(flags, set(CPU_ADAPTATIONS))
    notes, i = [], 0
    while i < len(dropped):
        j = next((k for k in range(i + 1, len(dropped)) if dropped[k].startswith("--")), len(dropped))
        notes.append(f"dropped {' '.join(dropped[i:j])}: {CPU_ADAPTATIONS[dropped[i]]}")
        i = j
    return kept, notes


def cpu_precision(argv: list[str]) -> tuple[list[str], list[str]]:
    """``argv`` with every ``--mixed_precision`` value set to ``no`` (fp32), and the note saying so."""
    out = list(argv)
    changed = [i + 1 for i, a in enumerate(out[:-1]) if a == "--mixed_precision" and out[i + 1] != "no"]
    for i in changed:
        out[i] = "no"
    return out, [CPU_FP32] if changed else []


def our_side(argv: list[str], profile: str, batch: int) -> Side:
    """Our profile: the speed/memory flags our plan emits."""
    i = next(k for k, a in enumerate(argv) if a.endswith(TRAIN_SCRIPT.name)) + 1
    _, flags = split_flags(argv[i:], set(SPEED_MEMORY_FLAGS))
    source = {"repo": "this checkout", "file": "config/models.py VRAM_PROFILES"}
    return Side(f"ascii-lora {profile}", "ascii-lora", source, batch, flags)


def peer_side(p: PeerPreset) -> Side:
    src = {**dataclasses.asdict(p.source), "url": p.source.url}
    return Side(p.name, p.kit, src, p.batch_size, list(p.flags), notes=p.notes)


def compare_config(
    cfg: ExperimentConfig,
    profile: str,
    data: Path,
    models: st.StandIns,
    run_dir: Path,
    steps: int,
    batch: int | None,
    full_size: bool,
) -> ExperimentConfig:
    """The experiment every side trains: the user's (rank, captions, schedule), at ``profile``, for
    ``steps`` steps on the stand-ins, saving only at the end and sampling nothing. The CPU form takes
    the rehearsal's dataset and resolution; ``full_size`` trains at the config's own resolution."""
    d = cfg.model_dump(mode="json", exclude_none=True)
    if not full_size:
        for table_name in ("dataset", "training"):
            d.setdefault(table_name, {}).update(REHEARSAL[table_name])
    d["dataset"]["out"] = str(data)
    d["training"].update(
        max_train_steps=steps,
        save_every_n_steps=100_000,
        output_dir=str(run_dir),
        resume=False,
        batch_size=batch,
    )
    d["sample"] = {**d.get("sample", {}), "every_n_steps": 100_000, "at_first": False}
    d["hardware"] = {**d.get("hardware", {}), "vram_profile": profile, "num_gpus": 1}
    d["trainer"] = {"kind": "kohya"}
    d["model"] = {**d.get("model", {}), **models.model_table()}
    if d["training"]["batch_size"] is None:
        del d["training"]["batch_size"]
    return ExperimentConfig.model_validate(d)


def full_size_refusal(full_size: bool, cuda_available: Callable[[], bool]) -> str | None:
    """The one line `rehearse --compare --full-size` answers on a machine without CUDA, else None."""
    return FULL_SIZE_NEEDS_CUDA if full_size and not cuda_available() else None


def cuda_available() -> bool:
    """Whether torch sees a CUDA device; without torch there is none."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def check_classes(classes: list[str]) -> None:
    """Refuse, in one line, a card class no peer preset competes with (48gb+)."""
    missing = [c for c in classes if not peers_for(c)]
    if missing:
        raise UserError(
            f"rehearse --compare: no peer preset for vram_profile {', '.join(missing)}; "
            f"peers exist for {', '.join(classes_with_peers())}"
        )


def _accelerate_argv(argv: list[str]) -> list[str]:
    """The side's argv through the rehearsal launcher, with this environment's accelerate."""
    out = rehearsal_argv(argv)
    bindir = Path(sys.executable).parent
    out[0] = str(bindir / "accelerate") if (bindir / "accelerate").exists() else "accelerate"
    return out


def prepare(
    cfg: ExperimentConfig,
    root: Path,
    rehearsal: Path,
    cache: Path,
    full_size: bool,
    log: Callable[[str], None] = lambda m: None,
) -> tuple[Path, st.StandIns]:
    """The images and the stand-ins every side trains on: the rehearsal's own (``<rehearsal>/data``,
    the same captions, so the same stand-in cache), or `--full-size`'s (4 images of the default
    experiment, as profiles.measure). The dataset writer keeps the trainer's caches beside images it
    does not change, so a compare after a rehearsal pays no caching."""
    from ..dataset.writer import write_dataset

    if full_size:
        base = ExperimentConfig()
        dataset, prompts = base.dataset.model_copy(update={"count": 4}), base.sample.prompts
        sizes = st.Sizes.full()
    else:
        pre = rehearsal_config(cfg, rehearsal, st.paths(cache))
        dataset, prompts, sizes = pre.dataset, pre.sample.prompts, st.Sizes.tiny()
    data = rehearsal / "data"
    write_dataset(dataset.model_copy(update={"out": str(data)}), data)
    texts = [p.read_text(encoding="utf-8").strip() for p in sorted(data.glob("*.txt"))] + list(prompts)
    return data, st.build(cache, root / SD_SCRIPTS_DIR, texts, sizes, log=log)


def _fresh(side_dir: Path) -> Path:
    """An empty folder for one side's plan, log and outputs (a re-run starts from nothing, as the
    rehearsal does). The images and their caches are shared: sd-scripts writes latent and
    text-encoder caches beside the images, the first side pays for them, and each later side reuses
    them only where sd-scripts' own validity check (keys, shapes, T5 mask) accepts them; caching is
    not part of what is compared."""
    if side_dir.exists():
        shutil.rmtree(side_dir)
    side_dir.mkdir(parents=True)
    return side_dir


def run_side(
    side: Side, cfg: ExperimentConfig, root: Path, out: Path, steps: int, adapt: bool, timeout_s: float
) -> dict:
    """Plan, write and train one side; its row of compare.json (the trainer's log beside it)."""
    plan = build_plan(cfg, root)
    flags, adapted = cpu_form(side.flags) if adapt else (list(side.flags), [])
    argv = with_flags(plan.argv, flags)
    if adapt:
        argv, fp32 = cpu_precision(argv)
        adapted += fp32
    plan = dataclasses.replace(plan, argv=argv)
    write_plan(plan, root)  # the side's own train.sh and train.args.json: its exact argv
    started = time.monotonic()
    code, text = run_group(_accelerate_argv(plan.argv), root, timeout_s)
    code = 124 if code is None else code
    atomic_write(out / f"{_slug(side.name)}.log", text)
    row = {
        "name": side.name,
        "kit": side.kit,
        "source": side.source,
        "batch": side.batch,
        "flags": flags,
        "adapted": [*side.adapted, *adapted],
        "notes": list(side.notes),
        "argv": plan.argv,
        "exit_code": code,
        "seconds_total": round(time.monotonic() - started, 1),
        **measure_run(text, side.batch, steps),
    }
    if code:
        row["error"] = " | ".join(text.strip().splitlines()[-3:])[:400]
    return row


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


def compare(
    cfg: ExperimentConfig,
    root: Path,
    out: Path,
    models: st.StandIns,
    data: Path,
    classes: list[str],
    steps: int = 2,
    full_size: bool = False,
    timeout_s: float = 3600.0,
    log: Callable[[str], None] = lambda m: None,
) -> dict:
    """Every side of every card class, one after the other; compare.json and compare.md in ``out``."""
    import torch

    check_classes(classes)
    root, out = Path(root).resolve(), Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    cuda = torch.cuda.is_available()
    first = compare_config(cfg, classes[0], data, models, out, steps, None, full_size)  # what all sides share
    result: dict[str, Any] = {
        "label": None if full_size and cuda else (TINY_LABEL if cuda else CPU_LABEL),
        "device": torch.cuda.get_device_name(0) if cuda else "CPU",
        "cpus": _cpus(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "stand_ins": "full-size stand-ins (19+38 blocks, 24 T5 layers)"
        if full_size
        else "tiny stand-ins (1+1 blocks, 2 T5 layers)",
        "steps": steps,
        "resolution": first.training.side,
        "rank": first.network.dim,
        "images": len(list(data.glob("*.png"))),
        "sd_scripts_commit": SD_SCRIPTS_COMMIT,
        "torch": torch.__version__,
        "classes": [],
    }
    for card in classes:
        group: dict[str, Any] = {"card_class": card, "sides": []}
        result["classes"].append(group)
        ours_cfg = compare_config(cfg, card, data, models, out / card / "ours", steps, None, full_size)
        batch = ours_cfg.training.batch_size or ours_cfg.hardware.profile.batch_size
        sides: list[tuple[str, Side, int | None]] = [
            ("ours", our_side(build_plan(ours_cfg, root).argv, card, batch), None)
        ]
        sides += [(_slug(p.name), peer_side(p), p.batch_size) for p in peers_for(card)]
        for slug, side, peer_batch in sides:
            log(f"{card}: training {side.name} ({steps} steps, batch {side.batch})")
            run_dir = _fresh(out / card / slug) / "run"
            side_cfg = compare_config(cfg, card, data, models, run_dir, steps, peer_batch, full_size)
            group["sides"].append(run_side(side, side_cfg, root, out / card, steps, not cuda, timeout_s))
            add_ratios(group["sides"])
            _write(out, result)
            brief = {k: v for k, v in group["sides"][-1].items() if k not in ("argv", "source", "notes")}
            log(json.dumps(brief, ensure_ascii=False))
    return result


def _cpus() -> int | None:
    import os

    return os.cpu_count()


def _write(out: Path, result: dict) -> None:
    atomic_write(out / "compare.json", json.dumps(result, indent=1) + "\n")
    atomic_write(out / "compare.md", table(result))


def ok(result: dict) -> bool:
    """Every side trained to the end and gave a step time."""
    rows = [r for g in result["classes"] for r in g["sides"]]
    return bool(rows) and all(r["exit_code"] == 0 and "seconds_per_step" in r for r in rows)


def rehearsal_phase(
    cfg: ExperimentConfig,
    root: Path,
    out: Path,
    data: Path,
    models: st.StandIns,
    steps: int = 2,
    log: Callable[[str], None] = lambda m: None,
) -> str:
    """The `make rehearse` phase: the CPU form for the config's card class, on the rehearsal's own
    dataset and stand-ins; its verdict line. A side that fails fails the phase."""
    card = cfg.hardware.vram_profile
    if not peers_for(card):
        return f"no peer preset competes with vram_profile {card}: nothing to compare"
    result = compare(cfg, root, out, models, data, [card], steps, log=log)
    rows = result["classes"][0]["sides"]
    bad = [
        f"{r['name']} exit {r['exit_code']}: {r.get('error', 'no step time')}"
        for r in rows
        if r["exit_code"] or "seconds_per_step" not in r
    ]
    if bad:
        raise RuntimeError("; ".join(bad))
    ratios = ", ".join(f"{r['name']} {r['ours_over_theirs']['images_per_second']}" for r in rows[1:])
    return (
        f"{len(rows)} sides x {steps} steps ({result['label']}); ours/theirs images/s: {ratios}; "
        f"{out / 'compare.json'}"
    )
