"""Phases before any training: the dataset, the stand-in models, the plan, pre-flight.

Each phase takes the rehearsal's state, may fill a field of it for a later phase, and returns its detail line.
"""

from __future__ import annotations

import time
from pathlib import Path

import tomli_w

from ..fsutil import atomic_write
from ..train.kohya.plan import SD_SCRIPTS_DIR, Plan, build_plan
from . import standins as st
from .judging import _expect
from .overrides import rehearsal_probes
from .state import RehearsalState


def dataset(s: RehearsalState) -> str:
    pre = s.pre
    from ..dataset.writer import write_dataset

    write_dataset(pre.dataset, Path(pre.dataset.out))
    n = len(list(Path(pre.dataset.out).glob("*.png")))
    _expect(n == pre.dataset.count, f"{n} images written, {pre.dataset.count} asked")
    return f"{n} images at {pre.dataset.resolution} px in {pre.dataset.out}"


def models(s: RehearsalState) -> str:
    pre, root, cache, sizes, on_line = s.pre, s.root, s.cache, s.sizes, s.on_line
    captions = [p.read_text(encoding="utf-8").strip() for p in sorted(Path(pre.dataset.out).glob("*.txt"))]
    t0 = time.monotonic()
    s.standins = st.build(cache, root / SD_SCRIPTS_DIR, [*captions, *pre.sample.prompts], sizes, log=on_line)
    size = sum(p.stat().st_size for p in cache.glob("*.safetensors")) / 1024**3
    return (
        f"{sizes.double_blocks}+{sizes.single_blocks} FLUX blocks, {sizes.t5_layers} T5 layers, "
        f"{size:.1f} GiB in {cache} ({time.monotonic() - t0:.0f} s)"
    )


def plan(s: RehearsalState) -> str:
    pre, root, out, run_dir, config_file = s.pre, s.root, s.out, s.run_dir, s.config_file
    import shutil

    from ..train.plan_files import write_plan

    for earlier in (run_dir, out / "generated"):  # a rehearsal starts from nothing, every time: its
        if earlier.exists():  # seeded training redraws byte-identical LoRAs, which generate would reuse
            shutil.rmtree(earlier)
    atomic_write(
        config_file,
        "# The rehearsal's experiment: the user's config with REHEARSAL's overrides.\n"
        + tomli_w.dumps(pre.model_dump(mode="json", exclude_none=True)),
    )
    p: Plan = build_plan(pre, root)
    write_plan(p, root)
    s.plan = p
    _expect("--sample_at_first" in p.argv, "the fresh plan lacks --sample_at_first")
    return f"{len(p.argv)} argv items, plan files in {run_dir}"


def preflight(s: RehearsalState) -> str:
    pre, root = s.pre, s.root
    from ..train.preflight import run_preflight

    _expect(s.plan is not None, "no plan to check: the plan phase must run first")
    assert s.plan is not None
    checks = run_preflight(pre, s.plan, root, rehearsal_probes())
    bad = [c for c in checks if c.ok is False]
    _expect(not bad, "; ".join(f"{c.name}: {c.detail}" for c in bad))
    return f"{sum(c.ok is True for c in checks)} checks passed (sd-scripts' own parser accepted the argv)"
