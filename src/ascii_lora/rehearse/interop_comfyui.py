"""ComfyUI's own LoRA loading, judged on the rehearsal's LoRA: every key mapped, none "not loaded".

ComfyUI is no package: its source is the git submodule ``vendor/ComfyUI`` at COMFYUI_COMMIT
(``git submodule update --init --depth 1 vendor/ComfyUI``), imported from there, never copied.
The path is the one its *Load Diffusion Model* and *LoraLoaderModelOnly* nodes take:
``comfy.sd.load_diffusion_model`` on the stand-in FLUX file, ``comfy.lora.model_lora_keys_unet``
and ``comfy.lora.load_lora`` for the key map, ``comfy.sd.load_lora_for_models`` to patch. ComfyUI
reports a LoRA key it could not place only as a logged warning ("lora key not loaded", "NOT
LOADED"), which is what users see fail silently; here any such warning fails the phase.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from .interop_diffusers import InteropError, warnings_of

COMFYUI_DIR = Path("vendor") / "ComfyUI"
COMFYUI_COMMIT = "3cd7b32f1b7e7e90395cefe7d9f9b1f89276d8ce"  # upstream master, 2026-01-07
NOT_LOADED = ("lora key not loaded", "not loaded")


def comfyui_problem(root: Path) -> str | None:
    """None when vendor/ComfyUI is checked out at the pin; else what is wrong and the fix."""
    d = root / COMFYUI_DIR
    if not (d / "comfy" / "lora.py").is_file() or not (d / "comfy" / "sd.py").is_file():
        return (
            f"{d} is not checked out (ComfyUI's own loader is the judge): run "
            f"`git submodule update --init --depth 1 {COMFYUI_DIR}`"
        )
    try:
        head = subprocess.run(
            ["git", "-C", str(d), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=20, check=True
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        head = ""
    if head != COMFYUI_COMMIT:
        return (
            f"{d} is at {head[:12] or 'an unknown commit'}, the project pins {COMFYUI_COMMIT[:12]}: run "
            f"`git -C {COMFYUI_DIR} fetch --depth 1 origin {COMFYUI_COMMIT} && "
            f"git -C {COMFYUI_DIR} checkout {COMFYUI_COMMIT}`"
        )
    return None


def _import_comfy(comfy_dir: Path):
    """ComfyUI's modules from its checkout, on the CPU (its command line is not parsed in library use)."""
    p = str(Path(comfy_dir).resolve())
    if p not in sys.path:
        sys.path.insert(0, p)
    import comfy.cli_args

    comfy.cli_args.args.cpu = True  # read by model_management at its import: no CUDA probing on a CPU box
    import comfy.lora
    import comfy.sd
    import comfy.utils

    return comfy


def lora_key_count(lora_sd: dict) -> int:
    """LoRA modules in an sd-scripts file: one per ``.lora_down.weight``."""
    return sum(k.endswith(".lora_down.weight") for k in lora_sd)


def judge(seen: list[str], patches: int, modules: int, patched: int | None) -> None:
    """The verdict on what ComfyUI logged and returned: nothing unloaded, every module one patch."""
    unloaded = list(
        dict.fromkeys(m for m in seen if any(w in m.lower() for w in NOT_LOADED))
    )  # logged per call
    if unloaded:
        raise InteropError(f"ComfyUI left {len(unloaded)} LoRA key(s) unloaded, first: {unloaded[0][:200]}")
    if patches != modules:
        raise InteropError(f"ComfyUI mapped {patches} of the file's {modules} LoRA modules")
    if patched is not None and patched != patches:
        raise InteropError(f"ComfyUI applied {patched} of {patches} patches to the model")


def lora_loads(lora: Path, flux: Path, comfy_dir: Path) -> str:
    """The stand-in FLUX through *Load Diffusion Model*, the LoRA through *LoraLoaderModelOnly*'s call."""
    comfy = _import_comfy(comfy_dir)
    load = getattr(comfy.sd, "load_diffusion_model", None) or comfy.sd.load_unet
    with warnings_of("") as seen:  # ComfyUI logs through the root logger
        model = load(str(flux))
        lora_sd = comfy.utils.load_torch_file(str(lora), safe_load=True)
        key_map = comfy.lora.model_lora_keys_unet(model.model, {})
        patches = comfy.lora.load_lora(lora_sd, key_map)
        patched_model, _ = comfy.sd.load_lora_for_models(model, None, lora_sd, 1.0, 0.0)
    applied = len(getattr(patched_model, "patches", {}) or {}) if patched_model is not None else None
    modules = lora_key_count(lora_sd)
    judge(seen, len(patches), modules, applied)
    return (
        f"{lora.name}: ComfyUI {COMFYUI_COMMIT[:10]} mapped all {modules} LoRA modules "
        "onto the stand-in FLUX "
        f"({type(model.model).__name__}), {applied} weights patched, no key left unloaded"
    )


def main(argv: list[str]) -> int:
    """``python -m ascii_lora.rehearse.interop_comfyui LORA FLUX COMFY_DIR VERDICT.json``: the verdict
    as a file (this process prints nothing of its own; ComfyUI logs what it logs)."""
    lora, flux, comfy_dir, verdict = (Path(a) for a in argv)
    try:
        detail, ok = lora_loads(lora, flux, comfy_dir), True
    except InteropError as e:
        detail, ok = str(e), False
    except Exception as e:  # noqa: BLE001 - the verdict names what broke; the parent reports it
        detail, ok = f"{type(e).__name__}: {e}", False
    verdict.write_text(json.dumps({"ok": ok, "detail": detail}))
    return 0


def lora_loads_isolated(lora: Path, flux: Path, comfy_dir: Path, timeout: float = 3600.0) -> str:
    """``lora_loads`` in a process of its own: ComfyUI sets global state when imported (logging, torch
    and memory settings), which must neither meet the diffusers phases' state nor outlive the phase."""
    with tempfile.TemporaryDirectory(prefix="ascii-lora-comfyui-") as tmp:
        verdict = Path(tmp) / "verdict.json"
        cmd = [
            sys.executable,
            "-m",
            "ascii_lora.rehearse.interop_comfyui",
            str(lora),
            str(flux),
            str(comfy_dir),
            str(verdict),
        ]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired:
            raise InteropError(f"ComfyUI's loading did not finish in {timeout:.0f} s") from None
        if not verdict.is_file():
            tail = " | ".join(r.stderr.strip().splitlines()[-3:])[:300]
            raise InteropError(f"ComfyUI's process exited {r.returncode} without a verdict: {tail}")
        v = json.loads(verdict.read_text())
    if not v["ok"]:
        raise InteropError(v["detail"])
    return str(v["detail"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
