"""The rehearsal's "validation and webhook" phase: watch a short real run the way a user would.

A run of its own (a few images, one held out, 4 steps, validation every 2 steps, a checkpoint every
2) goes through ``ascii-lora train`` with ``ASCII_LORA_WEBHOOK_URL`` pointing at a receiver on
127.0.0.1 that this phase runs. It is judged by what it leaves, read independently of the code
that wrote it:

- the trainer's own dataset log: ``[Dataset 0]`` holds count - 1 images, ``[Validation Dataset 0]``
  the 1 held out; sd-scripts' ``split_train_val`` (imported from the pin) names the held-out file,
  and the saved LoRA's ``ss_tag_frequency`` (the captions sd-scripts trained on) lacks its caption;
- the run's event files, read here with tensorboard's ``EventAccumulator``: a validation point at
  each expected step, and ``validation_loss.json`` agreeing with them;
- the launcher's output: ``progress:`` lines with s/step and the time left, and the summary line;
- the receiver: launch, each checkpoint, the end, as ``text``/``content`` JSON;
- the secret: the webhook URL's token appears in no file the run or the rehearsal wrote.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..config.models import VerificationPrompt
from ..validation_loss import TAG, VALIDATION_FILE, read_losses

WATCH_STEPS = 4
WATCH_EVERY = 2
WATCH_IMAGES = (
    4  # 3 trained on, 1 held out: at batch 1 an epoch is 3 steps, so step 4 validates in the second
)
WATCH_OVERRIDES = {
    "dataset": {"count": WATCH_IMAGES},
    "training": {
        "max_train_steps": WATCH_STEPS,
        "save_every_n_steps": WATCH_EVERY,
        "batch_size": 1,
        "resume": False,
    },
    # sampling is proven by the other phases; one prompt, since sd-scripts encodes every sample prompt
    # with T5 before the first step (minutes each on a busy CPU)
    "sample": {"every_n_steps": 1000, "at_first": False, "prompts": [VerificationPrompt]},
    "validation": {"enabled": True, "images": 1, "every_n_steps": WATCH_EVERY},
}


class Receiver:
    """A webhook receiver on 127.0.0.1 with a secret token in its path; records every JSON body."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(16)
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    receiver.bodies.append(json.loads(body))
                except ValueError:
                    receiver.bodies.append({"unreadable": body[:200].decode("utf-8", "replace")})
                self.send_response(204 if self.path.endswith(receiver.token) else 404)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook/{self.token}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def dataset_counts(log: str) -> tuple[int | None, int | None]:
    """(training, held-out) image counts from sd-scripts' dataset summary in its log (rich may wrap lines)."""

    def count(title: str) -> int | None:
        m = re.search(re.escape(title) + r"\].*?image_count:\s*(\d+)", log, re.S)
        return int(m.group(1)) if m else None

    train = count("[Dataset 0")
    m = re.search(r"\[Validation Dataset 0\].*?image_count:\s*(\d+)", log, re.S)
    return train, int(m.group(1)) if m else None


def held_out_files(image_dir: Path, split: float, seed: int, sd_scripts: Path) -> tuple[list[str], list[str]]:
    """(trained, held out) file names by sd-scripts' own split_train_val at the pin, on its own sorted glob."""
    import sys

    if str(sd_scripts) not in sys.path:
        sys.path.insert(0, str(sd_scripts))
    from library.train_util import glob_images, split_train_val  # the pinned sd-scripts (train environment)

    paths = glob_images(str(image_dir), "*")
    sizes = [None] * len(paths)
    train, _ = split_train_val(list(paths), list(sizes), True, split, seed)
    val, _ = split_train_val(list(paths), list(sizes), False, split, seed)
    return sorted(Path(p).name for p in train), sorted(Path(p).name for p in val)


def logged_validation(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Launch folder -> (step, value) of sd-scripts' validation tag, read with tensorboard directly."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = {}
    for events in sorted((run_dir / "logs").glob("*/*/events.out.tfevents.*")):
        acc = EventAccumulator(str(events.parent), size_guidance={"scalars": 0})
        acc.Reload()
        if TAG in acc.Tags().get("scalars", []):
            out[events.parent.parent.name] = [(e.step, e.value) for e in acc.Scalars(TAG)]
    return out


def judge_losses(run_dir: Path, steps: list[int]) -> str:
    """validation_loss.json holds a finite loss at each validation step, as the event files do."""
    losses = read_losses(run_dir)
    logged = logged_validation(run_dir)
    if sorted(losses) != steps:
        raise AssertionError(f"{VALIDATION_FILE} has steps {sorted(losses)}, validation ran at {steps}")
    points = [p for launch in logged.values() for p in launch]
    if sorted(s for s, _ in points) != steps:
        raise AssertionError(
            f"the event files hold {TAG} at {sorted(s for s, _ in points)}, expected {steps}"
        )
    if not all(math.isfinite(v) and v > 0 for v in losses.values()):
        raise AssertionError(f"validation losses {losses}")
    first = min(points)
    if not math.isclose(losses[first[0]], first[1], rel_tol=1e-5):  # the first validation is its own mean
        raise AssertionError(f"step {first[0]}: {losses[first[0]]} in the file, {first[1]} in the event file")
    return ", ".join(f"step {s}: {v:.4f}" for s, v in sorted(losses.items()))


def judge_webhooks(bodies: list[dict], checkpoints: list[int]) -> str:
    """Launch, one message per checkpoint, then the end; every body Slack- and Discord-shaped."""
    for b in bodies:
        if (
            set(b) != {"text", "content"}
            or not b["text"].startswith("ascii-lora ")
            or b["content"] != b["text"][:2000]
        ):
            raise AssertionError(f"a webhook body is not {{text, content}}: {str(b)[:200]}")
    texts = [b["text"] for b in bodies]
    kinds = [
        "launched"
        if "training launched" in t
        else "checkpoint"
        if "checkpoint saved" in t
        else "finished"
        if "training finished" in t
        else t[:60]
        for t in texts
    ]
    want = ["launched"] + ["checkpoint"] * len(checkpoints) + ["finished"]
    if kinds != want:
        raise AssertionError(f"webhooks received {kinds}, expected {want}")
    for step in checkpoints:
        if not any(f"checkpoint saved at step {step}/" in t and "validation loss" in t for t in texts):
            raise AssertionError(f"no checkpoint message with a validation loss for step {step}: {texts}")
    return f"{len(bodies)} webhooks received ({', '.join(kinds)})"


def files_holding(folders: list[Path], secret: str) -> list[str]:
    """Every file under ``folders`` whose bytes contain ``secret``."""
    found = []
    needle = secret.encode()
    for folder in folders:
        for p in folder.rglob("*"):
            try:
                if p.is_file() and not p.is_symlink() and needle in p.read_bytes():
                    found.append(str(p))
            except OSError:
                continue
    return found


def tag_counts(captions: list[str]) -> dict[str, int]:
    """Tag -> count over ``captions``, the way sd-scripts' set_tag_frequency counts them (comma-split, lower-cased)."""
    counts: dict[str, int] = {}
    for caption in captions:
        for tag in (t.strip().lower() for t in caption.split(",")):
            if tag:
                counts[tag] = counts.get(tag, 0) + 1
    return counts


def judge_held_out(log: str, image_dir: Path, split: float, seed: int, lora: Path, sd_scripts: Path) -> str:
    """The held-out image was never trained on: the trainer's dataset log, its own split, its own tag record."""
    from ..train.safetensors_header import read_header

    train, val = held_out_files(image_dir, split, seed, sd_scripts)
    counts = dataset_counts(log)
    if counts != (len(train), len(val)) or set(train) & set(val):
        raise AssertionError(
            f"the trainer's log says {counts} (training, validation) images; its split gives "
            f"{len(train)} and {len(val)}"
        )
    trained = json.loads(read_header(lora).metadata.get("ss_tag_frequency", "{}")).get(image_dir.name, {})
    captions = {
        p: (image_dir / p).with_suffix(".txt").read_text(encoding="utf-8").strip() for p in train + val
    }
    if trained != tag_counts([captions[p] for p in train]):
        raise AssertionError(
            f"{lora.name}'s ss_tag_frequency is not the tag count of the {len(train)} training captions"
        )
    if trained == tag_counts(list(captions.values())):
        raise AssertionError("the held-out caption changes no tag count: the proof cannot tell it apart")
    return (
        f"trainer's log: {counts[0]} training + {counts[1]} validation images; held out {', '.join(val)} "
        f"(sd-scripts' split_train_val), absent from {lora.name}'s ss_tag_frequency"
    )


def watch_config(pre, out: Path):
    """The rehearsal's config with WATCH_OVERRIDES: the same dataset (and its caches), a run folder of its own."""
    from ..config.models import ExperimentConfig

    data = pre.model_dump(mode="json", exclude_none=True)
    for table, values in WATCH_OVERRIDES.items():
        data.setdefault(table, {}).update(values)
    data["dataset"]["count"] = (
        pre.dataset.count
    )  # the rehearsal's images, latents and text encodings already cached
    data["training"]["output_dir"] = str(out / "watch-run")
    data.pop("notify", None)  # the URL comes from the environment, as a user keeping it out of files would do
    return ExperimentConfig.model_validate(data)


def judge_watch_run(
    cfg, run_dir: Path, lines: list[str], receiver: Receiver, out: Path, sd_scripts: Path
) -> str:
    """Every claim of the phase, from what the run left: see the module docstring."""
    import tomllib

    text = "\n".join(lines)
    progress = [line for line in lines if line.startswith("progress: step ")]
    summary = next((line for line in lines if line.startswith("summary: steps ")), None)
    if not progress or summary is None:
        raise AssertionError(
            f"no progress line ({len(progress)}) or summary line ({summary}) in the launcher's output"
        )
    record = json.loads((run_dir / "run.json").read_text()).get("progress", {})
    if not (record.get("seconds_per_step") or 0) > 0 or record.get("step") != WATCH_STEPS:
        raise AssertionError(f"run.json progress {record}")
    ds = tomllib.loads((run_dir / "dataset_config.toml").read_text())["datasets"][0]
    image_dir = Path(ds["subsets"][0]["image_dir"])
    steps = list(range(WATCH_EVERY, WATCH_STEPS + 1, WATCH_EVERY))
    held = judge_held_out(
        text,
        image_dir,
        ds["validation_split"],
        ds["validation_seed"],
        run_dir / f"{cfg.training.output_name}.safetensors",
        sd_scripts,
    )
    losses = judge_losses(run_dir, steps)
    hooks = judge_webhooks(receiver.bodies, steps)
    leaks = files_holding([out], receiver.token)
    if leaks:
        raise AssertionError(f"the webhook URL is written in {leaks}")
    return (
        f"{held}; validation loss from the event files: {losses}; {progress[-1]}; {summary}; {hooks}; "
        f"the URL is in no file under {out}"
    )


def watch_phase(pre, root: Path, out: Path, train, timeout: float) -> str:
    """Train the watch run with the webhook URL in the environment, then judge everything it left.

    ``train(config, log, env, timeout)`` runs ``ascii-lora train --rehearsal`` and returns (exit code or
    None on timeout, output lines)."""
    import shutil

    import tomli_w

    from ..config.watch import WEBHOOK_ENV
    from ..fsutil import atomic_write
    from ..train.kohya.plan import SD_SCRIPTS_DIR

    cfg = watch_config(pre, out)
    run_dir = Path(cfg.training.output_dir)
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a rehearsal starts from nothing
    config = out / "watch.toml"
    atomic_write(
        config,
        "# The rehearsal's watch run: its config with WATCH_OVERRIDES.\n"
        + tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True)),
    )
    receiver = Receiver()
    try:
        code, lines = train(config, out / "train-watch.log", {WEBHOOK_ENV: receiver.url}, timeout)
    finally:
        receiver.close()
    if code != 0:
        raise AssertionError(f"the watch run exited {code}: {' | '.join(lines[-3:])[:400]}")
    return judge_watch_run(cfg, run_dir, lines, receiver, out, Path(root) / SD_SCRIPTS_DIR)
