"""The rehearsal: the pinned sd-scripts trains the user's plan on a CPU, is interrupted, resumes, finishes.

Why: every mistake that would otherwise show after a 30 GB download and an hour of rented GPU
(a wrong path, a prompt sd-scripts misreads, a resume that renumbers or overtrains) shows here in
minutes. The user's experiment config is used as is except for what a CPU needs (REHEARSAL, all
recorded in the rehearsal's config file and its run's ``config.resolved.toml``), the model files
are random stand-ins (standins.py), and training goes through ``ascii-lora train`` itself in a
subprocess, so the launcher, the Ctrl-C handling, resume and the renumbering are the real ones.

Each phase is judged by what it leaves on disk, measured independently of the code that wrote it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import tomli_w

from ..config.models import ExperimentConfig
from ..fsutil import atomic_write
from ..train.kohya.plan import SD_SCRIPTS_DIR, TRAIN_SCRIPT, Plan, build_plan
from ..train.launcher import STOP_REQUEST
from ..train.runs import half_written, state_step
from ..train.segments import read_record
from . import standins as st

# What a CPU needs, and nothing else: a handful of images at 384 px, 8 steps, save and sample every
# 2, 2 sampling steps at 256 px, the step-0 baseline on (so its naming is exercised), one process,
# no block swap (the stand-in has 2 blocks).
REHEARSAL = {
    "dataset": {"count": 8, "resolution": 384},
    "training": {"max_train_steps": 8, "resolution": 384, "save_every_n_steps": 2, "resume": False},
    "sample": {"every_n_steps": 2, "steps": 2, "width": 256, "height": 256, "at_first": True},
    "hardware": {"num_gpus": 1, "blocks_to_swap": 0},
    "trainer": {"kind": "kohya"},  # the rehearsal runs sd-scripts; SimpleTuner has its own CPU proof (section 5)
    "verify": {"precision": "bf16"},  # a CPU has no fp8 matmul
    "validation": {"enabled": False},  # the "watch" phase validates a run of its own (rehearse/watching.py)
}
PHASE_KEYS = ("dataset", "models", "plan", "preflight", "interrupt", "stop", "resume", "refuse", "watch", "inspect",
              "check", "verify", "generate")
INTERRUPT_AFTER_STEP = 2  # the first saved state: Ctrl-C right after it
STOP_AFTER_STEP = 4  # the resumed segment's first state: `ascii-lora stop` waits for it
LAUNCHER = Path(__file__).with_name("sd_launcher.py")
# No Hub access (a stand-in that sd-scripts would try to fetch fails loudly), no .pyc under vendor/,
# no tokenizers thread pool to warn about when the trainer is forked after the stand-ins were built.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
           "TOKENIZERS_PARALLELISM": "false"}


@dataclass
class Phase:
    name: str
    ok: bool
    seconds: float
    detail: str


@dataclass
class Rehearsal:
    out: Path
    phases: list[Phase] = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.phases) and all(p.ok for p in self.phases)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "out": str(self.out), "phases": [asdict(p) for p in self.phases], "facts": self.facts}


def rehearsal_config(cfg: ExperimentConfig, out: Path, models: st.StandIns) -> ExperimentConfig:
    data = cfg.model_dump(mode="json", exclude_none=True)
    for table, values in REHEARSAL.items():
        data.setdefault(table, {}).update(values)
    data["dataset"]["out"] = str(out / "data")
    data["training"]["output_dir"] = str(out / "run")
    data["model"] = {**data.get("model", {}), **models.model_table()}
    return ExperimentConfig.model_validate(data)


def rehearsal_argv(argv: list[str]) -> list[str]:
    """The plan's argv with the training script run through the rehearsal launcher (T5 layer count)."""
    i = next(k for k, a in enumerate(argv) if a.endswith(TRAIN_SCRIPT.name))
    return [*argv[:i], str(LAUNCHER), *argv[i:]]


def rehearsal_probes():
    """Pre-flight on a CPU box: the CPU stands in for the CUDA GPU; every other check is the real one."""
    from ..train.probes import Gpu, Probes

    return Probes(gpus=[Gpu("CPU (rehearsal stand-in for the GPU)", 1024.0)], torch_cuda=True)


class _Trainer:
    """`ascii-lora train` in its own process group, as a terminal would run it; output to a log."""

    def __init__(self, root: Path, config: Path, log: Path, extra: list[str], on_line: Callable[[str], None],
                 env: dict[str, str] | None = None):
        self.log = log
        self.lines: list[str] = []
        cmd = [sys.executable, "-m", "ascii_lora", "train", "--config", str(config), "--rehearsal", *extra]
        self.proc = subprocess.Popen(
            cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            env={**os.environ, **OFFLINE, **(env or {})}, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background parent may ignore it
        )
        self.reader = threading.Thread(target=self._read, args=(on_line,), daemon=True)
        self.reader.start()

    def _read(self, on_line):
        with open(self.log, "w", encoding="utf-8") as f:
            f.write("$ ascii-lora train (rehearsal)\n")
            assert self.proc.stdout is not None
            buf = ""
            while True:
                chunk = self.proc.stdout.read(256)
                if not chunk:
                    break
                f.write(chunk)
                f.flush()
                buf += chunk
                *done, buf = re.split(r"[\r\n]", buf)
                for line in done:
                    if line.strip():
                        self.lines.append(line)
                        on_line(line)

    def ctrl_c(self) -> None:
        """What a terminal sends on Ctrl-C: SIGINT to the whole foreground process group."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def wait(self, timeout: float) -> int | None:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.reader.join(timeout=10)
        return code

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def tail(self, n: int = 3) -> str:
        return " | ".join(line.strip()[:160] for line in self.lines[-n:])

    def seconds_per_step(self) -> float | None:
        """sd-scripts' own tqdm figure from its last training-step line ('steps: ... 70.48s/it')."""
        for line in reversed(self.lines):
            m = re.search(r"steps:.*?([\d.]+)(s/it|it/s)", line)
            if m:
                v = float(m.group(1))
                return v if m.group(2) == "s/it" else 1 / v
        return None


def _step_of(name: str, output_name: str) -> int | None:
    m = re.match(rf"^{re.escape(output_name)}-step(\d{{8}})", name)
    return int(m.group(1)) if m else None


def expected_outputs(cfg: ExperimentConfig) -> dict[str, list[int]]:
    """What an uninterrupted run leaves: step LoRAs/states every save, samples every sample step + baseline."""
    t, s = cfg.training, cfg.sample
    return {
        "step_files": [k for k in range(1, t.max_train_steps + 1) if k % t.save_every_n_steps == 0],
        "sample_steps": ([0] if s.at_first else []) + [k for k in range(1, t.max_train_steps + 1) if k % s.every_n_steps == 0],
    }


def _sample_steps(sample_dir: Path, output_name: str) -> dict[int, int]:
    """Images per step tag in a sample folder, counted by name (e000000 = the step-0 baseline)."""
    counts: dict[int, int] = {}
    for p in sample_dir.glob("*.png"):
        m = re.match(rf"^{re.escape(output_name)}_(e?)(\d{{6}})_\d{{2}}_\d{{14}}", p.name)
        if m:
            step = int(m.group(2))
            counts[step] = counts.get(step, 0) + 1
    return counts


def rehearse(cfg: ExperimentConfig, root: Path, out: Path, cache: Path, sizes: st.Sizes | None = None,
             report: Callable[[Phase], None] = lambda p: None, on_line: Callable[[str], None] = lambda s: None,
             train_timeout: float = 3600.0, only: set[str] | None = None) -> Rehearsal:
    """Run every phase in order; a phase that fails ends the rehearsal (the later ones would only repeat it).

    ``only``: the keys of the phases to run (PHASE_KEYS), the others skipped; None runs them all."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # set before the stand-ins' tokenizers are trained here
    root, out = Path(root).resolve(), Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    result = Rehearsal(out)
    sizes = sizes or st.Sizes.tiny()
    ctx: dict = {}

    def phase(name: str, fn: Callable[[], str]) -> bool:
        t0 = time.monotonic()
        try:
            detail, ok = fn(), True
        except _Fail as e:
            detail, ok = str(e), False
        except Exception as e:  # noqa: BLE001 - a rehearsal reports what broke, it does not crash on it
            detail, ok = f"{type(e).__name__}: {e}", False
        p = Phase(name, ok, round(time.monotonic() - t0, 1), detail)
        result.phases.append(p)
        report(p)
        _write_summary(result)
        return ok

    name = cfg.training.output_name
    pre = rehearsal_config(cfg, out, st.paths(cache))
    run_dir = Path(pre.training.output_dir)
    config_file = out / "rehearsal.toml"

    def dataset() -> str:
        from ..dataset.writer import write_dataset

        write_dataset(pre.dataset, Path(pre.dataset.out))
        n = len(list(Path(pre.dataset.out).glob("*.png")))
        _expect(n == pre.dataset.count, f"{n} images written, {pre.dataset.count} asked")
        return f"{n} images at {pre.dataset.resolution} px in {pre.dataset.out}"

    def models() -> str:
        captions = [p.read_text(encoding="utf-8").strip() for p in sorted(Path(pre.dataset.out).glob("*.txt"))]
        t0 = time.monotonic()
        ctx["standins"] = st.build(cache, root / SD_SCRIPTS_DIR, [*captions, *pre.sample.prompts], sizes, log=on_line)
        size = sum(p.stat().st_size for p in cache.glob("*.safetensors")) / 1024**3
        return (f"{sizes.double_blocks}+{sizes.single_blocks} FLUX blocks, {sizes.t5_layers} T5 layers, "
                f"{size:.1f} GiB in {cache} ({time.monotonic() - t0:.0f} s)")

    def plan() -> str:
        from ..train.plan_files import write_plan

        import shutil

        for earlier in (run_dir, out / "generated"):  # a rehearsal starts from nothing, every time: its
            if earlier.exists():  # seeded training redraws byte-identical LoRAs, which generate would reuse
                shutil.rmtree(earlier)
        atomic_write(config_file, "# The rehearsal's experiment: the user's config with REHEARSAL's overrides.\n"
                     + tomli_w.dumps(pre.model_dump(mode="json", exclude_none=True)))
        p: Plan = build_plan(pre, root)
        write_plan(p, root)
        ctx["plan"] = p
        _expect("--sample_at_first" in p.argv, "the fresh plan lacks --sample_at_first")
        return f"{len(p.argv)} argv items, plan files in {run_dir}"

    def preflight() -> str:
        from ..train.preflight import run_preflight

        checks = run_preflight(pre, ctx["plan"], root, rehearsal_probes())
        bad = [c for c in checks if c.ok is False]
        _expect(not bad, "; ".join(f"{c.name}: {c.detail}" for c in bad))
        return f"{sum(c.ok is True for c in checks)} checks passed (sd-scripts' own parser accepted the argv)"

    def interrupt() -> str:
        tr = _Trainer(root, config_file, out / "train-1-interrupted.log", [], on_line)
        first = run_dir / f"{name}-step{INTERRUPT_AFTER_STEP:08d}-state"
        t0 = time.monotonic()
        try:
            while not (first / "random_states_0.pkl").exists():  # accelerate writes it last
                if tr.proc.poll() is not None:
                    raise _Fail(f"the trainer exited ({tr.proc.returncode}) before its first state: {tr.tail()}")
                if time.monotonic() - t0 > train_timeout:
                    raise _Fail(f"no state after {train_timeout:.0f} s: {tr.tail()}")
                time.sleep(1)
            reached = time.monotonic() - t0
            time.sleep(3)
            tr.ctrl_c()
            t1 = time.monotonic()
            code = tr.wait(300)
            _expect(code is not None, "the trainer did not stop within 300 s of one Ctrl-C")
        finally:
            if tr.proc.poll() is None:
                tr.kill()
        ctx["s_per_step_1"] = tr.seconds_per_step()
        _expect(code != 0, f"exit code {code} after Ctrl-C: an interrupted run must not look finished")
        _expect(state_step(first) == INTERRUPT_AFTER_STEP, f"{first.name} records step {state_step(first)}")
        _expect(not (run_dir / f"{name}.safetensors").exists(), "a final LoRA exists after the interrupt")
        return (f"first state (step {INTERRUPT_AFTER_STEP}) after {reached:.0f} s, one Ctrl-C stopped it in "
                f"{time.monotonic() - t1:.0f} s with exit {code}; {ctx['s_per_step_1'] or '?'} s/step")

    def stop() -> str:
        # RESUME=1, then `ascii-lora stop` from another terminal as soon as the launch is running:
        # the trainer must stop right after the segment's first state (the run's step 4), exit 0
        tr = _Trainer(root, config_file, out / "train-2-stopped.log", ["--resume"], on_line)
        t0 = time.monotonic()
        try:
            # the launcher clears an old request first, then records its pid
            while read_record(run_dir).get("launcher_pid") != tr.proc.pid:
                if tr.proc.poll() is not None:
                    raise _Fail(f"RESUME=1 exited ({tr.proc.returncode}) before it launched the trainer: {tr.tail()}")
                if time.monotonic() - t0 > 600:
                    raise _Fail("RESUME=1 did not launch the trainer within 600 s")
                time.sleep(0.5)
            code, text = _cli(root, ["stop", "--config", str(config_file)], out / "stop.log", 120)
            _expect(code == 0 and f"saves its state at step {STOP_AFTER_STEP}" in text, f"ascii-lora stop exited {code}: {text[-300:]}")
            code = tr.wait(train_timeout)
            _expect(code is not None, f"the stop request did not end the trainer in {train_timeout:.0f} s: {tr.tail()}")
        finally:
            if tr.proc.poll() is None:
                tr.kill()
        text = "\n".join(tr.lines)
        _expect(code == 0, f"a requested stop exited {code}: {tr.tail()}")
        _expect(f"right after the trainer saved its state at step {STOP_AFTER_STEP}" in text, f"no stop report: {tr.tail()}")
        state = run_dir / f"{name}-step{STOP_AFTER_STEP:08d}-state"
        _expect(state_step(state) == STOP_AFTER_STEP, f"{state.name} records step {state_step(state)} after the stop")
        _expect(not half_written(state), f"{state.name} is incomplete")
        later = sorted(p.name for p in run_dir.glob(f"{name}-step*") if (_step_of(p.name, name) or 0) > STOP_AFTER_STEP)
        _expect(not later and not (run_dir / f"{name}.safetensors").exists(), f"trained past the requested stop: {later}")
        _expect(not (run_dir / STOP_REQUEST).exists(), "the honoured stop request was left behind")
        return f"`ascii-lora stop` during RESUME=1: stopped right after the state at step {STOP_AFTER_STEP}, exit 0, nothing lost"

    def resume() -> str:
        tr = _Trainer(root, config_file, out / "train-3-resumed.log", ["--resume"], on_line)
        try:
            code = tr.wait(train_timeout)
            _expect(code is not None, f"RESUME=1 did not finish in {train_timeout:.0f} s: {tr.tail()}")
        finally:
            if tr.proc.poll() is None:
                tr.kill()
        _expect(code == 0, f"RESUME=1 exited {code}: {tr.tail()}")
        ctx["s_per_step_2"] = tr.seconds_per_step()
        return _judge_resumed_run(pre, run_dir) + f"; {ctx['s_per_step_2'] or '?'} s/step"

    def refuse() -> str:
        tr = _Trainer(root, config_file, out / "train-4-refused.log", ["--resume"], on_line)
        code = tr.wait(300)
        if code is None:
            tr.kill()
            raise _Fail("RESUME=1 on the finished run was still running after 300 s")
        text = "\n".join(tr.lines)
        _expect(code not in (0, None), f"RESUME=1 on the finished run exited {code}")
        _expect("max_train_steps" in text, f"the refusal does not say what to raise: {tr.tail()}")
        _expect("Loading state dict" not in text and "Building Flux" not in text, "a model was loaded before the refusal")
        segs = json.loads((run_dir / "run.json").read_text()).get("segments", [])
        _expect(len(segs) == 3, f"run.json records {len(segs)} segments after the refusal, 3 expected")
        return f"refused with exit {code} before any model loaded: {tr.lines[-1].strip()[:140] if tr.lines else ''}"

    def inspect() -> str:
        from ..train.lora_inspect import inspect_lora

        files = sorted(run_dir.glob(f"{name}*.safetensors"))
        _expect(files, "no LoRA in the run directory")
        for f in files:
            info = inspect_lora(f, pre)
            _expect(info.rank == pre.network.dim, f"{f.name}: rank {info.rank}, config dim {pre.network.dim}")
            want = _step_of(f.name, name) or pre.training.max_train_steps
            got = info.training.get("steps", info.training.get("ss_steps"))
            _expect(str(got) == str(want), f"{f.name}: its metadata says {got} steps, its place in the run {want}")
        return f"{len(files)} LoRAs: rank {pre.network.dim}, steps in each file's metadata match its name"

    def check() -> str:
        from ..check.run import CheckOutputs, run_check

        o = run_dir / "check"
        run = run_check([str(run_dir / "sample")], pre,
                        CheckOutputs(json=o / "report.json", overlay_dir=o / "overlays", ascii_dir=o / "ascii", report_dir=o))
        _expect(run.errors == 0, f"{run.errors} samples unreadable")
        per_step = {s.number: s.images for s in run.scores if s.kind == "step"}
        want = expected_outputs(pre)["sample_steps"]
        prompts = len(pre.sample.prompts)
        _expect(per_step == {k: prompts for k in want}, f"ranked per step {per_step}, expected {prompts} images at each of {want}")
        _expect(run.best is not None and run.best.number > 0, "the step-0 baseline was ranked best")
        _expect(all(s.superseded == 0 for s in run.scores), "two models drew the same step")
        return (f"{len(run.reports)} samples, one group per cumulative step {want}, baseline at step 0; "
                f"{run.passed} pass (random stand-ins draw noise); report {o / 'report.md'}")

    def verify() -> str:
        # the last LoRA and the base model, one seed: every file, name and report, not statistics
        argv = ["verify", "--config", str(config_file), "--checkpoints", "last", "--seeds", "1", "--device", "cpu"]
        code, text = _cli(root, argv, out / "verify.log", train_timeout)
        _expect(code == 0, f"ascii-lora verify exited {code}: {text[-300:]}")
        vdir = run_dir / "verify"
        prompts = len(pre.sample.prompts)
        folders = sorted(p.name for p in vdir.iterdir() if p.is_dir())
        last = f"step{pre.training.max_train_steps:08d}"  # sd-scripts saves the last step and the final file: the same weights, drawn once
        want = ["baseline", last if (run_dir / f"{name}-{last}.safetensors").exists() else "final"]
        _expect(folders == want, f"verify drew into {folders}, expected {want}")
        for f in folders:
            for i in range(prompts):
                png = vdir / f / f"p{i:02d}_s0000.png"
                for extra in (".job.json", ".check.json", ".ascii"):
                    _expect(png.with_name(png.stem + extra).is_file(), f"{png.name} lacks its {extra}")
                with open(png, "rb") as fh:
                    head = fh.read(24)
                size = (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"))
                _expect(size == (pre.sample.width, pre.sample.height), f"{png} is {size}, [sample] asks {pre.sample.width}x{pre.sample.height}")
        scores = json.loads((vdir / "scores.json").read_text())
        _expect(len(scores["images"]) == 2 * prompts, f"scores.json holds {len(scores['images'])} verdicts, {2 * prompts} drawn")
        lora = str(run_dir / (f"{name}-{last}.safetensors" if want[1] == last else f"{name}.safetensors"))
        _expect(scores["winner_file"] == lora, f"winner {scores['winner_file']}, expected {lora}")
        ctx["winner_file"] = lora
        for f in ("report.md", "chart.png", "contact_sheet.png"):
            _expect((vdir / f).is_file(), f"verify wrote no {f}")
        _expect("stand-in models" in (vdir / "report.md").read_text(), "the report does not say it was drawn with stand-ins")
        seconds = [float(m) for m in re.findall(r'"seconds": ([0-9.]+)', (vdir / "draw.log").read_text())]
        ctx["verify_s_per_image"] = round(sum(seconds[1:]) / max(1, len(seconds) - 1), 1) if seconds else None  # [0] is loading
        code, text = _cli(root, argv, out / "verify-again.log", 600)
        _expect(code == 0 and "0 to draw" in text, f"a second verify would draw again: {text[-300:]}")
        return (f"{2 * prompts} pictures (base model + final LoRA, {prompts} prompts, 1 seed), verdicts, report, chart and sheet; "
                f"{ctx['verify_s_per_image']} s per picture; a second call drew nothing")

    def generate() -> str:
        gen = out / "generated"
        argv = ["generate", "dungeon map, 6 rooms", "--config", str(config_file), "--count", "2", "--seed", "5",
                "--out", str(gen), "--snap", "--device", "cpu"]
        code, text = _cli(root, argv, out / "generate.log", train_timeout)
        _expect(code == 0, f"ascii-lora generate exited {code}: {text[-300:]}")
        _expect("added the trigger word" in text, "generate did not say it added the trigger word")
        for seed in (5, 6):
            stem = gen / f"dungeon_map_6_rooms-s{seed}"
            for extra in (".png", ".check.json", ".ascii"):
                _expect(stem.with_name(stem.name + extra).is_file(), f"generate wrote no {stem.name}{extra}")
        _expect((gen / "dungeon_map_6_rooms-s5-n2.sheet.png").is_file(), "generate wrote no contact sheet")
        verdict = json.loads((gen / "dungeon_map_6_rooms-s5.check.json").read_text())
        _expect(verdict["prompt"].startswith("ascii_structure_style, ") and verdict["lora"] == ctx.get("winner_file"),
                f"picture drawn with {verdict['prompt']!r} and {verdict['lora']}, expected the trigger word and verify's winner")
        return f"2 pictures + verdicts + .ascii + sheet in {gen}, trigger word added, LoRA = verify's winner"

    def watching() -> str:
        # its own short run on the rehearsal's dataset (and the caches the training phases left):
        # validation loss, ETA lines and webhooks received here (rehearse/watching.py)
        from .watching import watch_phase

        if not list(Path(pre.dataset.out).glob("*.png")):
            dataset()
        def train(config: Path, log: Path, env: dict[str, str], timeout: float) -> tuple[int | None, list[str]]:
            tr = _Trainer(root, config, log, [], on_line, env)
            try:
                return tr.wait(timeout), tr.lines
            finally:
                if tr.proc.poll() is None:
                    tr.kill()

        return watch_phase(pre, root, out, train, train_timeout)

    for key, n, fn in (("dataset", "dataset", dataset), ("models", "stand-in models", models), ("plan", "plan", plan),
                       ("preflight", "pre-flight", preflight), ("interrupt", "train, Ctrl-C after the first state", interrupt),
                       ("stop", "RESUME=1, `ascii-lora stop`", stop), ("resume", "RESUME=1 to the end", resume),
                       ("refuse", "RESUME=1 on the finished run", refuse),
                       ("watch", "validation loss, ETA and webhooks", watching),
                       ("inspect", "inspect every LoRA", inspect), ("check", "check the samples", check),
                       ("verify", "verify: base model + last LoRA", verify), ("generate", "generate from a prompt", generate)):
        if only is not None and key not in only:
            continue
        if not phase(n, fn):
            break
    result.facts.update(
        python=sys.version.split()[0], cpus=os.cpu_count(), sizes=asdict(sizes), overrides=REHEARSAL,
        seconds_per_step={k: ctx.get(k) for k in ("s_per_step_1", "s_per_step_2")},
        verify_seconds_per_picture=ctx.get("verify_s_per_image"),
        total_seconds=round(sum(p.seconds for p in result.phases), 1),
    )
    _write_summary(result)
    return result


def _cli(root: Path, argv: list[str], log: Path, timeout: float) -> tuple[int, str]:
    """``ascii-lora ARGV`` in this (train) environment, offline; output kept in ``log``."""
    try:
        r = subprocess.run([sys.executable, "-m", "ascii_lora", *argv], cwd=root, capture_output=True, text=True, errors="replace",
                           env={**os.environ, **OFFLINE}, timeout=timeout)
        code, text = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        code, text = 124, f"timed out after {timeout:.0f} s: {e.stdout or ''}"
    atomic_write(log, f"$ ascii-lora {' '.join(argv)}\n{text}")
    return code, text


def _judge_resumed_run(cfg: ExperimentConfig, run_dir: Path) -> str:
    """The run directory after interrupt, stop and resumes must read exactly like an uninterrupted run's."""
    from ..train.safetensors_header import read_header

    name = cfg.training.output_name
    want = expected_outputs(cfg)
    total = cfg.training.max_train_steps
    steps = sorted(s for s in (_step_of(p.name, name) for p in run_dir.glob(f"{name}-step*.safetensors")) if s)
    _expect(steps == want["step_files"], f"step LoRAs {steps}, an uninterrupted run saves {want['step_files']}")
    states = sorted(s for s in (_step_of(p.name, name) for p in run_dir.glob(f"{name}-step*-state")) if s)
    _expect(states == want["step_files"], f"step states {states}, expected {want['step_files']}")
    for d in [*run_dir.glob(f"{name}-step*-state"), run_dir / f"{name}-state"]:
        _expect(state_step(d) == (_step_of(d.name, name) or total), f"{d.name}: train_state.json says {state_step(d)}")
    final = read_header(run_dir / f"{name}.safetensors").metadata
    _expect(final.get("ss_steps") == str(total), f"final LoRA ss_steps = {final.get('ss_steps')}, expected {total}")
    leftovers = [p.name for p in run_dir.glob("resume-from-step*")]
    _expect(not leftovers, f"segment folders left: {leftovers}")
    samples = _sample_steps(run_dir / "sample", name)
    prompts = len(cfg.sample.prompts)
    _expect(samples == {k: prompts for k in want["sample_steps"]},
            f"samples per step {samples}, expected {prompts} at each of {want['sample_steps']} (once each: nothing redrawn)")
    segs = json.loads((run_dir / "run.json").read_text())["segments"]
    offsets = [s["offset"] for s in segs]
    _expect(offsets == [0, INTERRUPT_AFTER_STEP, STOP_AFTER_STEP], f"run.json segment offsets {offsets}")
    trained = sum((s.get("last_saved_step") or s["offset"]) - s["offset"] for s in segs)
    _expect(trained == total, f"segments account for {trained} optimizer steps, max_train_steps is {total}")
    return (f"segments {offsets} -> step files {steps} as an uninterrupted run, final ss_steps {total}, "
            f"{sum(samples.values())} samples each drawn once")


class _Fail(Exception):
    pass


def _expect(cond: object, why: str) -> None:
    if not cond:
        raise _Fail(why)


def _write_summary(result: Rehearsal) -> None:
    atomic_write(result.out / "rehearsal.json", json.dumps(result.as_dict(), indent=1, default=str))
