"""Pre-flight for drawing: what would make the worker die after a minute of loading FLUX, checked first.

Same checks and wording as training's (``train.preflight``), with inference's memory needs and
the LoRA files added. ``device="cpu"`` is for the rehearsal with stand-in models only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..config.models import ExperimentConfig
from ..train.kohya.plan import SD_SCRIPTS_DIR
from ..train.preflight import Check, check_model_file, check_sd_scripts, check_tokenizers, check_writable
from ..train.probes import GIB, Probes
from ..train.safetensors_header import NotSafetensors, model_kind, read_header
from .drawing import BF16_SPEEDUP, INFERENCE_MIN_GIB, Precision, model_paths, train_python

WORKER_MODULES = ("torch", "accelerate", "transformers")


def modules_of(python: str, names: tuple[str, ...]) -> dict[str, bool]:
    """Which modules another interpreter (the train environment's) can import, asked without importing them."""
    code = "import importlib.util, json, sys; print(json.dumps({n: importlib.util.find_spec(n) is not None for n in sys.argv[1:]}))"
    try:
        r = subprocess.run([python, "-c", code, *names], capture_output=True, text=True, timeout=60)
        return {k: bool(v) for k, v in json.loads(r.stdout).items()}
    except (OSError, subprocess.SubprocessError, ValueError):
        return {n: False for n in names}


INFERENCE_SCRIPT = SD_SCRIPTS_DIR / "flux_minimal_inference.py"
PNG_BYTES = (
    3 * 1024 * 1024
)  # a 1024 px RGB sample compresses to well under this; its overlay and JSON are smaller


def check_gpu(precision: Precision, probes: Probes) -> Check:
    torch_cuda, gpus, source = probes.cuda()
    if not gpus:
        return Check(
            "CUDA GPU",
            False,
            "no CUDA GPU is visible on this machine: drawing with FLUX.1-dev needs one",
            "run this on the training box; `--dry-run` lists the work anywhere, `make rehearse` draws with stand-ins on CPU",
        )
    if not torch_cuda:
        return Check(
            "CUDA GPU",
            False,
            f"{len(gpus)} GPU(s) found by {source}, but torch cannot use CUDA",
            "run `make setup-train` to install a CUDA build of torch",
        )
    g = max(gpus, key=lambda g: g.total_gib)
    if g.total_gib < precision.min_vram_gib:
        fits = [n for n, need in INFERENCE_MIN_GIB.items() if need <= g.total_gib]
        fix = (
            f'set [verify] precision = "{fits[-1]}"'
            if fits
            else f"sd-scripts' inference has no block swap: FLUX needs at least {min(INFERENCE_MIN_GIB.values()):.0f} GiB even in fp8"
        )
        return Check(
            "CUDA GPU",
            False,
            f"{g.name} has {g.total_gib:.1f} GiB, {precision.name} inference needs ~{precision.min_vram_gib:g}",
            fix,
        )
    hint = ""
    if (
        precision.name == "fp8" and g.total_gib >= INFERENCE_MIN_GIB["bf16"]
    ):  # auto follows the training profile, not the card
        hint = (
            f'; this card also fits bf16, ~{BF16_SPEEDUP:g}x faster per picture: [verify] precision = "bf16"'
        )
    return Check(
        "CUDA GPU",
        True,
        f"{g.name} {g.total_gib:.0f} GiB ({precision.name} inference needs ~{precision.min_vram_gib:g}){hint}",
    )


def check_lora(path: Path) -> Check:
    name = f"LoRA {path.name}"
    if not path.is_file():
        return Check(
            name, False, f"{path} is missing", "pick saved checkpoints with --checkpoints, or fix --lora"
        )
    try:
        kind = model_kind(read_header(path))
    except NotSafetensors as e:
        return Check(
            name,
            False,
            f"{path}: {e}",
            "the file is damaged or not a safetensors LoRA; pick another checkpoint",
        )
    if kind != "lora":
        return Check(
            name,
            False,
            f"{path} is a {kind} file, not a LoRA",
            "pass a LoRA saved by `make train` (networks.lora_flux)",
        )
    return Check(name, True, f"{path.name}: networks.lora_flux weights")


def run_inference_preflight(
    cfg: ExperimentConfig,
    root: Path,
    precision: Precision,
    loras: list[Path],
    out_dir: Path,
    images: int,
    probes: Probes | None = None,
    device: str = "cuda",
) -> list[Check]:
    probes = probes or Probes()
    checks: list[Check] = []
    if device == "cuda":
        checks.append(check_gpu(precision, probes))
    else:
        checks.append(Check("CUDA GPU", None, f"drawing on {device} (rehearsal with stand-in models)"))
    python = train_python()
    found = modules_of(python, WORKER_MODULES) if python != sys.executable and not probes.modules else {}
    for mod in WORKER_MODULES:
        ok = found[mod] if mod in found else probes.has_module(mod)
        where = "" if python == sys.executable else f" in {python}"
        checks.append(
            Check(
                f"{mod} installed",
                ok,
                f"{mod} {'found' if ok else 'missing'}{where} (the drawing worker imports it)",
                "" if ok else "run `make setup-train`",
            )
        )
    paths = model_paths(cfg, root)
    for key in ("flux", "clip_l", "t5xxl", "ae"):
        checks.append(check_model_file(key, Path(paths[key])))
    checks.append(check_tokenizers(Path(paths["tokenizer_cache_dir"])))
    checks.append(check_sd_scripts(root / INFERENCE_SCRIPT, probes.head(root)))
    for lora in dict.fromkeys(loras):
        checks.append(check_lora(lora))
    checks.append(check_writable(out_dir))
    need = images * PNG_BYTES
    free = probes.free(out_dir)
    checks.append(
        Check(
            "free disk",
            free >= need,
            f"{free / GIB:.1f} GiB free at {out_dir}, {images} pictures need ~{need / GIB:.2f} GiB",
            "" if free >= need else "free disk space or draw fewer seeds",
        )
    )
    return checks
