"""Drawing worker: runs in the train environment, loads FLUX once, draws a list of jobs.

Started as ``python draw_worker.py SPEC.json`` by ``ascii_lora.verify.drawing``. The pictures are
made by the pinned sd-scripts' own ``flux_minimal_inference.generate_image`` (noise, schedule,
denoising, decoding, saving), with the models loaded by its ``library.flux_utils`` loaders and LoRAs
applied by ``networks.lora_flux``, exactly as that script's command line does; what this file adds
is what the script's command line lacks: load once and draw many prompts x seeds x LoRAs, name
each picture, write it atomically and skip what is already drawn.

Only the standard library is imported at module level, so the job loop is tested without torch.
Progress goes to stdout as one JSON object per line after ``EVENT_PREFIX``; sd-scripts' own
logging (stderr) is kept in the caller's log.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

EVENT_PREFIX = "@@ascii-lora "
RECORD_SUFFIX = ".job.json"
TMP_PREFIX = ".ascii-lora-tmp-"
T5_LAYERS_IN_SD_SCRIPTS = 24
# Module globals flux_minimal_inference.generate_image() reads, which that script sets in its __main__ block
GENERATE_IMAGE_GLOBALS = frozenset(
    {
        "accelerator",
        "ae_dtype",
        "args",
        "clip_l_dtype",
        "device",
        "dtype",
        "encoding_strategy",
        "flux_dtype",
        "is_fp8",
        "is_schnell",
        "t5xxl_dtype",
        "tokenize_strategy",
    }
)  # library/flux_utils.load_t5xxl builds a 24-layer T5 whatever the file holds


def emit(event: dict[str, Any]) -> None:
    print(EVENT_PREFIX + json.dumps(event), flush=True)


def _atomic_write(path: Path, data: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _drawn(out: Path, record: dict[str, Any]) -> bool:
    try:
        return (
            out.is_file()
            and json.loads(out.with_name(out.stem + RECORD_SUFFIX).read_text(encoding="utf-8")) == record
        )
    except (OSError, ValueError):
        return False


def run_jobs(
    jobs: list[dict[str, Any]],
    draw: Callable[[dict[str, Any], Path], None],
    send: Callable[[dict[str, Any]], None] = emit,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Draw every job not drawn yet; ``draw(job, folder)`` must leave exactly one PNG in ``folder``.

    The PNG is renamed onto its final name (atomic on one filesystem), then its record is written:
    a picture without a matching record is drawn again next time, never trusted half-done.
    """
    drawn = 0
    for i, job in enumerate(jobs):
        out = Path(job["out"])
        if _drawn(out, job["record"]):
            send({"event": "skipped", "index": i, "out": str(out)})
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        start = clock()
        with tempfile.TemporaryDirectory(prefix=TMP_PREFIX, dir=out.parent) as tmp:
            draw(job, Path(tmp))
            pngs = sorted(Path(tmp).glob("*.png"))
            if len(pngs) != 1:
                raise RuntimeError(f"the sampler left {len(pngs)} PNG files for {out.name}, expected 1")
            os.replace(pngs[0], out)
        _atomic_write(out.with_name(out.stem + RECORD_SUFFIX), json.dumps(job["record"], indent=1) + "\n")
        drawn += 1
        send({"event": "drawn", "index": i, "out": str(out), "seconds": round(clock() - start, 3)})
    return drawn


def t5_layers(path: str) -> int | None:
    """Encoder layers in a T5 file, read from its header (stand-ins have fewer than sd-scripts assumes)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        keys = json.loads(f.read(n)).keys()
    blocks = {int(k.split(".")[2]) for k in keys if k.startswith("encoder.block.")}
    return max(blocks) + 1 if blocks else None


class FluxDrawer:
    """Base models held in memory once; the LoRA switched per job. Imports torch and sd-scripts."""

    def __init__(self, spec: dict[str, Any]):
        sd_scripts = str(Path(spec["sd_scripts"]).resolve())
        if sd_scripts not in sys.path:
            sys.path.insert(0, sd_scripts)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tokenizers come from the cache or not at all
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        saved_argv, sys.argv = sys.argv, ["flux_minimal_inference.py"]
        try:
            import accelerate
            import flux_minimal_inference as fmi
            import torch
            from library import flux_utils, strategy_flux
            from library.device_utils import get_preferred_device
            from library.utils import str_to_dtype
            from networks import lora_flux
            from safetensors.torch import load_file
        finally:
            sys.argv = saved_argv
        self.torch, self.fmi, self.lora_flux, self.load_file = torch, fmi, lora_flux, load_file
        m, d = spec["models"], spec["dtypes"]
        layers = t5_layers(m["t5xxl"])
        if (
            layers and layers != T5_LAYERS_IN_SD_SCRIPTS
        ):  # stand-in T5: build as many layers as the file holds
            real = flux_utils.T5Config
            flux_utils.T5Config = lambda **kw: real(**{**kw, "num_layers": layers})
        device = torch.device(spec["device"]) if spec.get("device") else get_preferred_device()
        base = str_to_dtype(d.get("base") or "bf16")
        dtypes = {k: str_to_dtype(d.get(k), base) for k in ("clip_l", "t5xxl", "ae", "flux")}
        fp8 = {torch.float8_e4m3fn, torch.float8_e4m3fnuz, torch.float8_e5m2, torch.float8_e5m2fnuz}
        # generate_image() reads these module globals, which the script sets in its __main__ block
        fmi.device, fmi.dtype = device, base
        fmi.clip_l_dtype, fmi.t5xxl_dtype, fmi.ae_dtype, fmi.flux_dtype = (
            dtypes[k] for k in ("clip_l", "t5xxl", "ae", "flux")
        )
        fmi.is_fp8 = lambda dt: dt in fp8
        fmi.accelerator = (
            accelerate.Accelerator(mixed_precision="bf16")
            if any(t in fp8 for t in (base, *dtypes.values()))
            else None
        )
        fmi.args = type(
            "Args", (), {"apply_t5_attn_mask": False, "offload": bool(spec.get("offload")), "output_dir": "."}
        )()
        loading = "cpu" if spec.get("offload") else device
        start = time.monotonic()
        self.clip_l = flux_utils.load_clip_l(m["clip_l"], dtypes["clip_l"], loading, disable_mmap=True).eval()
        self.t5xxl = flux_utils.load_t5xxl(m["t5xxl"], dtypes["t5xxl"], loading, disable_mmap=True).eval()
        is_schnell, model = flux_utils.load_flow_model(
            m["flux"], None, loading, disable_mmap=True, model_type="flux"
        )
        model.eval()
        self.model = model.to(dtypes["flux"])
        self.ae = flux_utils.load_ae(m["ae"], dtypes["ae"], loading).eval()
        fmi.tokenize_strategy = strategy_flux.FluxTokenizeStrategy(
            256 if is_schnell else 512, spec["tokenizer_cache_dir"]
        )
        fmi.encoding_strategy = strategy_flux.FluxTextEncodingStrategy()
        fmi.is_schnell = is_schnell
        unset = sorted(n for n in GENERATE_IMAGE_GLOBALS if not hasattr(fmi, n))
        if unset:
            raise RuntimeError(f"flux_minimal_inference globals not set: {unset}")
        self.device = device
        self.networks: dict[tuple, Any] = {}
        self.current: str | None = "unset"
        self._active: Any = None  # the network of self.current, once one is loaded
        emit({"event": "loaded", "seconds": round(time.monotonic() - start, 1), "device": str(device)})

    def memory(self) -> dict[str, float]:
        """Peak CUDA memory of this process: what `rehearse --full-size` reports per precision."""
        if self.device.type != "cuda":
            return {}
        cuda = self.torch.cuda
        return {
            "peak_allocated_gib": round(cuda.max_memory_allocated(self.device) / 2**30, 2),
            "peak_reserved_gib": round(cuda.max_memory_reserved(self.device) / 2**30, 2),
        }

    def use_lora(self, path: str | None, multiplier: float) -> None:
        if path == self.current:
            if path is not None:
                self._active.set_multiplier(multiplier)
            return
        for net in self.networks.values():
            net.set_enabled(False)
        self.current = path
        if path is None:
            return
        weights = self.load_file(path)
        if not any(k.startswith("lora_") for k in weights):
            raise RuntimeError(f"{path} holds no networks.lora_flux weights")
        layout = tuple(sorted((k, tuple(v.shape)) for k, v in weights.items()))
        net = self.networks.get(layout)
        if net is None:  # a new tensor layout (first LoRA, or another rank): wrap the modules once more
            net, _ = self.lora_flux.create_network_from_weights(
                multiplier, None, self.ae, [self.clip_l, self.t5xxl], self.model, weights, True
            )
            net.apply_to([self.clip_l, self.t5xxl], self.model)
            self.networks[layout] = net
        net.load_state_dict(weights, strict=True)
        net.eval()
        net.to(self.device)
        net.set_multiplier(multiplier)
        net.set_enabled(True)
        self._active = net
        emit({"event": "lora", "path": path})

    def __call__(self, job: dict[str, Any], folder: Path) -> None:
        self.use_lora(job.get("lora"), float(job.get("multiplier") or 1.0))
        self.fmi.args.output_dir = str(folder)
        self.fmi.generate_image(
            self.model,
            self.clip_l,
            self.t5xxl,
            self.ae,
            job["prompt"],
            int(job["seed"]),
            int(job["width"]),
            int(job["height"]),
            int(job["steps"]),
            float(job["guidance"]),
            None,
            1.0,
        )


def die_with_parent() -> None:
    """End when the command that started us ends, however it ends (Linux).

    Ctrl-C and SIGTERM reach the worker through `verify`, which stops it; but a `verify` killed
    outright (kill -9, the OOM killer, a timeout in a script) left the worker drawing on, holding
    the GPU for minutes: seen on an H100, where a killed `verify` still drew two pictures.
    """
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the line above took effect
        os._exit(1)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: draw_worker.py SPEC.json", file=sys.stderr)
        return 2
    die_with_parent()
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    try:
        drawer = FluxDrawer(spec)
        run_jobs(spec["jobs"], drawer)
        memory = drawer.memory()
    except Exception as e:  # noqa: BLE001 - reported as one event line; the traceback goes to the log
        traceback.print_exc()
        emit({"event": "error", "message": f"{type(e).__name__}: {e}"})
        return 1
    emit({"event": "done", **memory})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
