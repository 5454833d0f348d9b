"""Run sd-scripts' training script unchanged, in this process, with T5's layer count from the checkpoint.

Why: sd-scripts' ``load_t5xxl`` hard-codes 24 encoder layers, so a 2-layer stand-in would leave 22
layers on the meta device. This launcher is the one adjustment the rehearsal makes: it counts the
layers in the ``--t5xxl`` file and, only when they are not 24, patches the config sd-scripts
builds, then runs the real script with ``runpy`` exactly as ``python script.py ARGS`` would.
Nothing under vendor/ is edited.

Usage (what the rehearsal passes to ``accelerate launch``)::

    sd_launcher.py vendor/sd-scripts/flux_train_network.py --t5xxl T5.safetensors ...
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # src/, for ascii_lora.rehearse.standins

from ascii_lora.rehearse.standins import t5_layers, t5_layers_in  # noqa: E402

REAL_T5_LAYERS = 24


def _report_peak_cuda_memory() -> None:
    """One line at exit with the trainer's peak CUDA memory (what `rehearse --full-size` measures per profile)."""
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.max_memory_reserved() > 0:
            gib = 1024**3
            sys.stdout.write(f"[rehearsal launcher] peak CUDA memory: {torch.cuda.max_memory_allocated() / gib:.2f} GiB allocated, "
                             f"{torch.cuda.max_memory_reserved() / gib:.2f} GiB reserved\n")
            sys.stdout.flush()
    except Exception:  # noqa: BLE001 - a measurement must never change the trainer's exit
        pass


def _report_peak_rss() -> None:
    """One line at exit with this process's peak resident memory (`rehearse --compare` on the CPU); data
    loader workers are processes of their own and are not in it."""
    try:
        import resource

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        sys.stdout.write(f"[rehearsal launcher] peak RSS: {kib / 1024**2:.2f} GiB\n")
        sys.stdout.flush()
    except Exception:  # noqa: BLE001 - a measurement must never change the trainer's exit
        pass


def main() -> None:
    import atexit

    atexit.register(_report_peak_cuda_memory)
    atexit.register(_report_peak_rss)
    script = Path(sys.argv[1]).resolve()
    args = sys.argv[2:]
    sys.argv = [str(script), *args]
    sys.path.insert(0, str(script.parent))  # as `python script.py` would: sd-scripts imports `library`
    layers = t5_layers_in(Path(args[args.index("--t5xxl") + 1])) if "--t5xxl" in args else REAL_T5_LAYERS
    if layers == REAL_T5_LAYERS:
        runpy.run_path(str(script), run_name="__main__")
        return
    sys.stdout.write(f"[rehearsal launcher] the T5 file has {layers} layers: load_t5xxl builds {layers}, not 24\n")
    sys.stdout.flush()
    with t5_layers(layers):
        runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
