"""What flux_train_network.py at the pinned commit does with our argv, minus the model: its file names.

Run as a script by tests/test_resume.py in place of the real trainer. Every behaviour copied here
was seen in a rehearsal with the real script (vendor/sd-scripts at 48d368fa, tiny stand-ins):
- the step counter starts at 0 on every launch, --resume included, when --initial_step 0 is given
  (train_network.py: ``global_step = 0``; the state's own count is ignored for an explicit
  --initial_step), and training stops at --max_train_steps;
- ``--sample_at_first`` draws ``{name}_e000000_{NN}_{stamp}_{seed}.png`` (epoch 0 at step 0);
- every --sample_every_n_steps: ``{name}_{step:06d}_{NN}_{stamp}_{seed}.png`` in <output_dir>/sample;
- every --save_every_n_steps: ``{name}-step{step:08d}.safetensors`` (metadata ss_steps = step) and,
  with --save_state, ``{name}-step{step:08d}-state/train_state.json`` = {current_epoch, current_step: step};
- at the end ``{name}.safetensors`` and ``{name}-state`` with the same counts;
- Ctrl-C: no handler, nothing saved on the way out.
FAKE_SD_INTERRUPT_AT=k makes it die at local step k before that step's saves (as a Ctrl-C would).
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file


def flag(args, name, default=None):
    return args[args.index(name) + 1] if name in args else default


def lora(path: Path, steps: int, segment: str) -> None:
    save_file(
        {"lora_unet_double_blocks_0_img_attn_qkv.alpha": np.array(32.0, dtype=np.float32)},
        str(path),
        metadata={"ss_steps": str(steps), "ss_max_train_steps": "0", "fake_written_by": segment},
    )


def main(args):
    out = Path(flag(args, "--output_dir"))
    name = flag(args, "--output_name")
    total = int(flag(args, "--max_train_steps"))
    save_every = int(flag(args, "--save_every_n_steps"))
    sample_every = int(flag(args, "--sample_every_n_steps"))
    resume = flag(args, "--resume")
    if resume is not None:
        assert flag(args, "--initial_step") == "0", "a resume without --initial_step 0 skips epochs instead"
        assert json.loads((Path(resume) / "train_state.json").read_text())["current_step"] >= 0
    stop = int(os.environ.get("FAKE_SD_INTERRUPT_AT", "0") or 0)
    segment = out.name
    stamp = [20261126000000 + int(os.environ.get("FAKE_SD_CLOCK", "0"))]

    def sample(tag):
        (out / "sample").mkdir(parents=True, exist_ok=True)
        for i in range(2):
            stamp[0] += 1
            (out / "sample" / f"{name}_{tag}_{i:02d}_{stamp[0]}_1234.png").write_bytes(segment.encode())

    def state(d: Path, step: int):
        d.mkdir(parents=True, exist_ok=True)
        (d / "train_state.json").write_text(json.dumps({"current_epoch": 1, "current_step": step}))
        (d / "random_states_0.pkl").write_bytes(b"rng")  # accelerate writes it last

    out.mkdir(parents=True, exist_ok=True)
    if "--sample_at_first" in args:
        sample("e000000")
    for step in range(1, total + 1):
        if step == stop:
            print(f"steps: {step}/{total} KeyboardInterrupt", flush=True)
            return 130
        print(f"steps: {step}/{total}", flush=True)
        if step % sample_every == 0:
            sample(f"{step:06d}")
        if step % save_every == 0:
            lora(out / f"{name}-step{step:08d}.safetensors", step, segment)
            state(out / f"{name}-step{step:08d}-state", step)
    lora(out / f"{name}.safetensors", total, segment)
    state(out / f"{name}-state", total)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
