"""Training phases: Ctrl-C after the first state, `ascii-lora stop` during RESUME=1, RESUME=1 to the end, a refusal.

Each runs `ascii-lora train` in its own process group (processes._Trainer), as a terminal would.
"""

from __future__ import annotations

import json
import time

from ..train.launcher import STOP_REQUEST
from ..train.runs import half_written, state_step
from ..train.segments import read_record
from .judging import _expect, _Fail, _judge_resumed_run, _step_of
from .overrides import INTERRUPT_AFTER_STEP, STOP_AFTER_STEP
from .processes import _cli, _Trainer
from .state import RehearsalState


def interrupt(s: RehearsalState) -> str:
    root, out, on_line, run_dir, config_file = s.root, s.out, s.on_line, s.run_dir, s.config_file
    name, train_timeout = s.name, s.train_timeout
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
    s.s_per_step_1 = tr.seconds_per_step()
    _expect(code != 0, f"exit code {code} after Ctrl-C: an interrupted run must not look finished")
    _expect(state_step(first) == INTERRUPT_AFTER_STEP, f"{first.name} records step {state_step(first)}")
    _expect(not (run_dir / f"{name}.safetensors").exists(), "a final LoRA exists after the interrupt")
    return (
        f"first state (step {INTERRUPT_AFTER_STEP}) after {reached:.0f} s, one Ctrl-C stopped it in "
        f"{time.monotonic() - t1:.0f} s with exit {code}; {s.s_per_step_1 or '?'} s/step"
    )


def stop(s: RehearsalState) -> str:
    root, out, on_line, run_dir, config_file = s.root, s.out, s.on_line, s.run_dir, s.config_file
    name, train_timeout = s.name, s.train_timeout
    # RESUME=1, then `ascii-lora stop` from another terminal as soon as the launch is running:
    # the trainer must stop right after the segment's first state (the run's step 4), exit 0
    tr = _Trainer(root, config_file, out / "train-2-stopped.log", ["--resume"], on_line)
    t0 = time.monotonic()
    try:
        # the launcher clears an old request first, then records its pid
        while read_record(run_dir).get("launcher_pid") != tr.proc.pid:
            if tr.proc.poll() is not None:
                raise _Fail(
                    f"RESUME=1 exited ({tr.proc.returncode}) before it launched the trainer: {tr.tail()}"
                )
            if time.monotonic() - t0 > 600:
                raise _Fail("RESUME=1 did not launch the trainer within 600 s")
            time.sleep(0.5)
        code, text = _cli(root, ["stop", "--config", str(config_file)], out / "stop.log", 120)
        _expect(
            code == 0 and f"saves its state at step {STOP_AFTER_STEP}" in text,
            f"ascii-lora stop exited {code}: {text[-300:]}",
        )
        ended = tr.wait(train_timeout)
        _expect(
            ended is not None,
            f"the stop request did not end the trainer in {train_timeout:.0f} s: {tr.tail()}",
        )
    finally:
        if tr.proc.poll() is None:
            tr.kill()
    text = "\n".join(tr.lines)
    _expect(ended == 0, f"a requested stop exited {ended}: {tr.tail()}")
    _expect(
        f"right after the trainer saved its state at step {STOP_AFTER_STEP}" in text,
        f"no stop report: {tr.tail()}",
    )
    state = run_dir / f"{name}-step{STOP_AFTER_STEP:08d}-state"
    _expect(
        state_step(state) == STOP_AFTER_STEP, f"{state.name} records step {state_step(state)} after the stop"
    )
    _expect(not half_written(state), f"{state.name} is incomplete")
    later = sorted(
        p.name for p in run_dir.glob(f"{name}-step*") if (_step_of(p.name, name) or 0) > STOP_AFTER_STEP
    )
    _expect(
        not later and not (run_dir / f"{name}.safetensors").exists(),
        f"trained past the requested stop: {later}",
    )
    _expect(not (run_dir / STOP_REQUEST).exists(), "the honoured stop request was left behind")
    return f"`ascii-lora stop` during RESUME=1: stopped right after the state at step {STOP_AFTER_STEP}, exit 0, nothing lost"


def resume(s: RehearsalState) -> str:
    pre, root, out, on_line, run_dir, config_file = s.pre, s.root, s.out, s.on_line, s.run_dir, s.config_file
    train_timeout = s.train_timeout
    tr = _Trainer(root, config_file, out / "train-3-resumed.log", ["--resume"], on_line)
    try:
        code = tr.wait(train_timeout)
        _expect(code is not None, f"RESUME=1 did not finish in {train_timeout:.0f} s: {tr.tail()}")
    finally:
        if tr.proc.poll() is None:
            tr.kill()
    _expect(code == 0, f"RESUME=1 exited {code}: {tr.tail()}")
    s.s_per_step_2 = tr.seconds_per_step()
    return _judge_resumed_run(pre, run_dir) + f"; {s.s_per_step_2 or '?'} s/step"


def refuse(s: RehearsalState) -> str:
    root, out, on_line, run_dir, config_file = s.root, s.out, s.on_line, s.run_dir, s.config_file
    tr = _Trainer(root, config_file, out / "train-4-refused.log", ["--resume"], on_line)
    code = tr.wait(300)
    if code is None:
        tr.kill()
        raise _Fail("RESUME=1 on the finished run was still running after 300 s")
    text = "\n".join(tr.lines)
    _expect(code not in (0, None), f"RESUME=1 on the finished run exited {code}")
    _expect("max_train_steps" in text, f"the refusal does not say what to raise: {tr.tail()}")
    _expect(
        "Loading state dict" not in text and "Building Flux" not in text,
        "a model was loaded before the refusal",
    )
    segs = json.loads((run_dir / "run.json").read_text()).get("segments", [])
    _expect(len(segs) == 3, f"run.json records {len(segs)} segments after the refusal, 3 expected")
    return (
        f"refused with exit {code} before any model loaded: {tr.lines[-1].strip()[:140] if tr.lines else ''}"
    )
