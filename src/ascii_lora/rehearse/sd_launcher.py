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
            sys.stdout.write(
                f"[rehearsal launcher] peak CUDA memory: {torch.cuda.max_memory_allocated() / gib:.2f} GiB allocated, "
                f"{torch.cuda.max_memory_reserved() / gib:.2f} GiB reserved\n"
            )
            sys.stdout.flush()
    except Exception:  # noqa: BLE001 - a measurement must never change the trainer's exit
        pass


RANK_HASH_DIR = "ASCII_LORA_RANK_HASH_DIR"  # set by the rehearsal's multi-process phases
from ascii_lora.rehearse.precision import FP32  # noqa: E402  (set by `rehearse` when it chose float32)


def fp32_args(args: list[str]) -> list[str]:
    """The trainer's argv in float32: ``--mixed_precision no`` and no ``--fp8_base``.

    Why: on a CPU without AVX-512 BF16 torch runs bf16 matmuls and convolutions 65-200x slower than
    float32 (measured on the 2-core AMD EPYC this kit is developed on), so one rehearsal step in bf16
    takes hours. The precision is the only thing changed; the recipe's bf16 is proven on GPUs.
    """
    out, skip = [], False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a == "--fp8_base":
            continue
        if a == "--mixed_precision" and i + 1 < len(args):
            out += [a, "no"]
            skip = True
            continue
        out.append(a)
    return out


def cpu_autocast_off() -> None:
    """Make ``torch.autocast("cpu")`` a no-op: the float32 rehearsal computes everything in float32.

    Why: sd-scripts' ``LoRAModule.update_grad_norms`` (networks/lora_flux.py:300 at the pin) runs
    after every step under ``torch.autocast(self.device.type)`` whatever ``--mixed_precision`` says,
    and CPU autocast means bf16: on a CPU without fast bf16 its out x in products took 2-6 s per
    module (25-70x float32), minutes per step with 13 modules. Its result only feeds the grad-norm
    log; on a GPU autocast is untouched.
    """
    import torch

    real = torch.autocast

    class Autocast(real):  # type: ignore[misc,valid-type]
        def __init__(self, device_type: str, *args, **kwargs) -> None:
            if device_type == "cpu":
                kwargs["enabled"] = False
                args = args[:1]  # (dtype,), never a positional ``enabled``
            super().__init__(device_type, *args, **kwargs)

    torch.autocast = Autocast  # type: ignore[misc]


def lora_digest(network) -> tuple[str, int]:
    """sha256 over the LoRA's own tensors (sorted names, float32 bytes) and how many there are."""
    import hashlib

    import torch

    h = hashlib.sha256()
    state = network.state_dict()
    for name in sorted(state):
        t = state[name].detach().to("cpu", torch.float32).contiguous()
        h.update(name.encode() + b"\0" + t.numpy().tobytes())
    return h.hexdigest(), len(state)


def _record_lora_per_rank(out: Path) -> None:
    """Each process writes a hash of its own LoRA weights when training ends (every process calls
    ``accelerator.end_training``, train_network.py:1719 at the pin; only the main one saves a file).
    Identical hashes on every rank are the proof that DDP averaged the gradients."""
    import json
    import os

    import accelerate

    networks: list = []
    prepare, end = accelerate.Accelerator.prepare, accelerate.Accelerator.end_training

    def remembering_prepare(self, *args, **kw):
        result = prepare(self, *args, **kw)
        for obj in result if isinstance(result, tuple) else (result,):
            inner = getattr(obj, "module", obj)
            if hasattr(inner, "unet_loras"):
                networks.append(inner)
        return result

    def recording_end(self, *args, **kw):
        if networks:
            digest, tensors = lora_digest(networks[-1])
            rank = os.environ.get("RANK", "0")
            out.mkdir(parents=True, exist_ok=True)
            (out / f"rank{rank}.json").write_text(
                json.dumps(
                    {
                        "rank": int(rank),
                        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
                        "local_rank": int(os.environ.get("LOCAL_RANK", "0")),
                        "sha256": digest,
                        "tensors": tensors,
                    }
                )
            )
            sys.stdout.write(
                f"[rehearsal launcher] rank {rank}: LoRA sha256 {digest[:16]} ({tensors} tensors)\n"
            )
            sys.stdout.flush()
        return end(self, *args, **kw)

    accelerate.Accelerator.prepare = remembering_prepare
    accelerate.Accelerator.end_training = recording_end


def _frozen_models_unwrapped_on_cpu() -> None:
    """On the CPU (gloo), accelerate 1.6.0 wraps every prepared model in DistributedDataParallel
    (accelerator.py:1745-1748, MULTI_CPU), and DDP refuses a model without a trainable parameter:
    sd-scripts prepares the frozen FLUX model that way (train_network.py:878-880 at the pin). On GPUs
    accelerate skips the wrap for such a model (accelerator.py:1584, MULTI_GPU); the rehearsal does
    the same on the CPU, so the CPU runs what the GPUs run."""
    import accelerate
    from accelerate.utils import DistributedType

    prepare_model = accelerate.Accelerator.prepare_model

    def as_on_gpus(self, model, device_placement=None, evaluation_mode=False):
        frozen = not any(p.requires_grad for p in model.parameters())
        if self.distributed_type == DistributedType.MULTI_CPU and frozen:
            evaluation_mode = True  # prepared, placed, recorded; not wrapped
        return prepare_model(self, model, device_placement=device_placement, evaluation_mode=evaluation_mode)

    accelerate.Accelerator.prepare_model = as_on_gpus


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
    import os

    atexit.register(_report_peak_cuda_memory)
    atexit.register(_report_peak_rss)
    if os.environ.get(RANK_HASH_DIR):
        _record_lora_per_rank(Path(os.environ[RANK_HASH_DIR]))
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        _frozen_models_unwrapped_on_cpu()
    script = Path(sys.argv[1]).resolve()
    args = sys.argv[2:]
    if os.environ.get(FP32):
        args = fp32_args(args)
        os.environ["ACCELERATE_MIXED_PRECISION"] = "no"
        cpu_autocast_off()
        sys.stdout.write(
            "[rehearsal launcher] float32 on this CPU: --mixed_precision no, without --fp8_base, no CPU autocast\n"
        )
    sys.argv = [str(script), *args]
    sys.path.insert(0, str(script.parent))  # as `python script.py` would: sd-scripts imports `library`
    layers = t5_layers_in(Path(args[args.index("--t5xxl") + 1])) if "--t5xxl" in args else REAL_T5_LAYERS
    if layers == REAL_T5_LAYERS:
        runpy.run_path(str(script), run_name="__main__")
        return
    sys.stdout.write(
        f"[rehearsal launcher] the T5 file has {layers} layers: load_t5xxl builds {layers}, not 24\n"
    )
    sys.stdout.flush()
    with t5_layers(layers):
        runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
