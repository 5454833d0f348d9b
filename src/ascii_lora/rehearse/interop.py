"""The rehearsal's interop phases: its LoRA through diffusers' and ComfyUI's own loaders.

Run after training (they need the run's final LoRA and the stand-in FLUX file), or on their own
on an existing rehearsal folder (``ascii-lora rehearse --phases interop``): a few minutes on a CPU.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable
from pathlib import Path

from ..config.models import ExperimentConfig
from ..fsutil import atomic_write
from . import standins as st
from .interop_comfyui import comfyui_problem
from .interop_diffusers import InteropError

SUMMARY = "interop.json"


def _need_peft() -> None:
    if importlib.util.find_spec("peft") is None:
        raise InteropError(
            "peft is not installed in the train environment (diffusers loads LoRAs through it): "
            "pip install -e '.[interop]' there, or let `make rehearse` rebuild it"
        )


def phases(
    cfg: ExperimentConfig, root: Path, run_dir: Path, cache: Path
) -> list[tuple[str, Callable[[], str]]]:
    """(name, step) pairs; each step returns its OK line or raises with what broke."""
    lora = Path(run_dir) / f"{cfg.training.output_name}.safetensors"
    flux = st.paths(cache).flux

    def have_files() -> None:
        for f in (lora, flux):
            if not f.is_file():
                raise InteropError(f"{f} is missing: run the whole rehearsal first (`make rehearse`)")

    def diffusers_loads() -> str:
        from .interop_diffusers import lora_loads

        _need_peft()
        have_files()
        return "diffusers " + _version("diffusers") + ": " + lora_loads(lora, flux)

    def diffusers_plan() -> str:
        from .interop_diffusers import plan_maps_completely

        return "diffusers " + _version("diffusers") + ": " + plan_maps_completely(cfg, root)

    def comfyui_loads() -> str:
        from .interop_comfyui import COMFYUI_DIR, lora_loads_isolated

        problem = comfyui_problem(root)
        if problem:
            raise InteropError(problem)
        have_files()
        return lora_loads_isolated(lora, flux, root / COMFYUI_DIR)

    def publish_dry_run() -> str:
        from .interop_publish import publish_dry_run as dry_run

        have_files()
        return dry_run(cfg, Path(run_dir), Path(run_dir).parent / "publish")

    return [
        ("diffusers loads the LoRA", diffusers_loads),
        ("diffusers maps the full-size plan", diffusers_plan),
        ("ComfyUI loads the LoRA", comfyui_loads),
        ("publish --dry-run: the model card", publish_dry_run),
    ]


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def run_interop(
    cfg: ExperimentConfig,
    root: Path,
    out: Path,
    cache: Path,
    run_dir: Path,
    report: Callable[[str, bool, float, str], None] = lambda *a: None,
) -> bool:
    """Every interop phase on an existing rehearsal; the verdicts also go to ``<out>/interop.json``."""
    results = []
    for name, step in phases(cfg, root, run_dir, cache):
        t0 = time.monotonic()
        try:
            detail, ok = step(), True
        except Exception as e:  # noqa: BLE001 - a rehearsal reports what broke, it does not crash on it
            detail, ok = (str(e) if isinstance(e, InteropError) else f"{type(e).__name__}: {e}"), False
        seconds = round(time.monotonic() - t0, 1)
        results.append({"name": name, "ok": ok, "seconds": seconds, "detail": detail})
        report(name, ok, seconds, detail)
    atomic_write(
        Path(out) / SUMMARY,
        json.dumps({"ok": all(r["ok"] for r in results), "phases": results}, indent=1) + "\n",
    )
    return all(r["ok"] for r in results)
