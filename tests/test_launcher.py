"""The launcher streams, logs, records, returns the trainer's code and forwards Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from ascii_lora.train.launcher import interruption_report, launch, process_start_ticks, resolve_launcher

from .fakes import ctrl_c_as_in_a_terminal


def test_streams_logs_and_returns_the_exit_code(tmp_path):
    lines: list[str] = []
    script = "import sys; print('step 1'); print('step 2', file=sys.stderr); sys.exit(3)"
    code = launch([sys.executable, "-c", script], tmp_path, tmp_path / "run" / "train.log", echo=lines.append)
    assert code == 3
    assert lines == ["step 1", "step 2"] or sorted(lines) == ["step 1", "step 2"]
    log = (tmp_path / "run" / "train.log").read_text()
    assert "step 1" in log and "step 2" in log
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["exit_code"] == 3 and record["argv"][0] == sys.executable


TRAINER = """
import signal, sys, time
print('ready', flush=True)
try:
    time.sleep(60)
except KeyboardInterrupt:
    print('trainer saw Ctrl-C, saving state', flush=True)
    sys.exit(0)
"""

RUNNER = """
import sys
from pathlib import Path
from ascii_lora.train.launcher import launch
sys.exit(launch([sys.executable, "-c", sys.argv[1]], Path(sys.argv[2]), Path(sys.argv[2]) / "train.log"))
"""


def test_ctrl_c_reaches_the_trainer_and_is_recorded(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, TRAINER, str(tmp_path)],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=ctrl_c_as_in_a_terminal,
    )
    log = tmp_path / "train.log"
    deadline = time.time() + 30
    while time.time() < deadline and not (
        log.exists() and "ready" in log.read_text().splitlines()
    ):  # the header holds the source
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole foreground group
    proc.wait(timeout=30)
    assert proc.returncode == 130
    assert "saving state" in log.read_text()
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["interrupted"] is True


# -- in-process specifications: the launcher runs here, the trainer is a small Python script -------------

VERSION = version("ascii-lora")


def run(tmp_path: Path, script: str, *args: str, on_line=None, **kw) -> tuple[int, list[str]]:
    """launch() a trainer ``python -c script args`` with its log in tmp_path/run; (code, echoed lines)."""
    lines: list[str] = []

    def echo(line: str) -> None:
        lines.append(line)
        if on_line:
            on_line(line)

    code = launch(
        [sys.executable, "-c", script, *args],
        kw.pop("cwd", tmp_path),
        tmp_path / "run" / "train.log",
        echo=echo,
        **kw,
    )
    return code, lines


def record(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "run" / "run.json").read_text())


def test_each_launch_appends_its_own_header_and_every_line_to_the_log(tmp_path):
    argv1 = [sys.executable, "-c", "print('first')"]
    argv2 = [sys.executable, "-c", "print('second'); print('third')"]
    log = tmp_path / "run" / "train.log"
    assert launch(argv1, tmp_path, log, echo=lambda s: None) == 0
    assert launch(argv2, tmp_path, log, echo=lambda s: None) == 0
    assert log.read_text() == (
        f"\n# ascii-lora {VERSION}: {' '.join(argv1)}\nfirst\n"
        f"\n# ascii-lora {VERSION}: {' '.join(argv2)}\nsecond\nthird\n"
    )


def test_stdout_and_stderr_arrive_in_order_as_lines_without_newlines(tmp_path):
    # each line as written, only its newline taken off (trailing blanks and letters stay)
    script = (
        "import sys\nprint('out 1 \\t', flush=True)\nprint('err 2', file=sys.stderr, flush=True)\n"
        "sys.stdout.write('out 3 MAX\\n\\nout 5'); sys.stdout.flush()"
    )
    code, lines = run(tmp_path, script)
    assert code == 0
    assert lines == ["out 1 \t", "err 2", "out 3 MAX", "", "out 5"]


def test_bytes_that_are_not_utf8_are_shown_replaced_not_fatal(tmp_path):
    code, lines = run(tmp_path, "import sys; sys.stdout.buffer.write(b'caf\\xe9 ok\\n')")
    assert code == 0 and lines == ["caf\ufffd ok"]
    assert "caf\ufffd ok\n" in (tmp_path / "run" / "train.log").read_text(encoding="utf-8")


def test_the_trainer_runs_in_cwd_in_its_own_process_group_with_our_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ASCII_LORA_TEST_INHERITED", "from the shell")
    monkeypatch.setenv("PYTHONUNBUFFERED", "0")
    work = tmp_path / "work"
    work.mkdir()
    script = (
        "import os\nprint(os.getcwd())\nprint(os.getpgid(0) == os.getpid(), os.getpgid(0) != os.getpgid(os.getppid()))\n"
        "for k in ('ASCII_LORA_TEST_INHERITED', 'ASCII_LORA_TEST_GIVEN', 'PYTHONUNBUFFERED'): print(k, os.environ.get(k))"
    )
    code, lines = run(tmp_path, script, cwd=work, env={"ASCII_LORA_TEST_GIVEN": "by the plan"})
    assert code == 0
    assert lines == [
        str(work),
        "True True",
        "ASCII_LORA_TEST_INHERITED from the shell",
        "ASCII_LORA_TEST_GIVEN by the plan",
        "PYTHONUNBUFFERED 1",
    ]  # unbuffered always: the progress bar must stream


def test_the_run_record_says_what_runs_then_how_it_ended(tmp_path):
    # the trainer itself reads run.json while it runs: written before the start, with no exit code yet
    script = "import sys, time; print(open(sys.argv[1]).read().replace(chr(10), ' ')); time.sleep(0.3); sys.exit(4)"
    before = time.time()
    code, lines = run(
        tmp_path, script, str(tmp_path / "run" / "run.json"), keep={"segments": [{"offset": 0}]}
    )
    after = time.time()
    assert code == 4
    during = json.loads(lines[0])
    argv = [sys.executable, "-c", script, str(tmp_path / "run" / "run.json")]
    assert during == {
        "segments": [{"offset": 0}],
        "argv": argv,
        "cwd": str(tmp_path),
        "started": during["started"],
        "ascii_lora": VERSION,
        "exit_code": None,
        "launcher_pid": os.getpid(),  # `ascii-lora stop` checks both
        "launcher_start": process_start_ticks(os.getpid()),
    }
    assert isinstance(during["launcher_start"], int)  # Linux: /proc is there
    assert before <= during["started"] <= after
    done = record(tmp_path)
    assert {
        k: done[k]
        for k in ("segments", "argv", "cwd", "started", "ascii_lora", "launcher_pid", "launcher_start")
    } == {k: during[k] for k in during if k != "exit_code"}
    assert (done["exit_code"], done["interrupted"], done["last_step"], done["stopped_on_request_after"]) == (
        4,
        False,
        None,
        None,
    )
    assert during["started"] + 0.3 <= done["finished"] <= after
    assert 0.3 <= done["seconds"] <= after - before + 0.1 and done["seconds"] == round(done["seconds"], 1)
    assert not [
        p.name for p in (tmp_path / "run").iterdir() if p.name not in ("run.json", "train.log")
    ]  # no temp files left


def test_the_last_progress_bar_step_is_recorded(tmp_path):
    # tqdm redraws its bar with \r: each redraw reads as a line of its own
    bar = (
        "steps:   0%|          | 0/300 [00:00<?, ?it/s]\\r"
        "steps:  10%|#         | 30/300 [00:03<00:27, 10it/s, avr_loss=0.4]\\r"
        "steps:  12%|#1        | 37/300 [00:04<00:27, 10it/s, avr_loss=0.3]\\n"
        "epoch 2/10\\nsaving checkpoint: 40/300\\n"
    )
    code, lines = run(tmp_path, f"import sys; sys.stdout.write('{bar}')")
    assert code == 0
    assert lines[:3] == [
        "steps:   0%|          | 0/300 [00:00<?, ?it/s]",
        "steps:  10%|#         | 30/300 [00:03<00:27, 10it/s, avr_loss=0.4]",
        "steps:  12%|#1        | 37/300 [00:04<00:27, 10it/s, avr_loss=0.3]",
    ]
    assert record(tmp_path)["last_step"] == 37  # lines that are not the bar never count as a step


def test_a_trainer_killed_by_a_signal_is_reported_as_a_shell_does(tmp_path):
    code, _ = run(tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert code == 137
    assert (record(tmp_path)["exit_code"], record(tmp_path)["interrupted"]) == (137, False)


# The user's signal: the test's own process receives it while launch() streams, exactly as the
# launcher does when a terminal's Ctrl-C (or a `kill`) reaches it. The trainer counts what it gets.
COUNTING = """
import signal, sys, time
got = []
def handler(signum, frame):
    got.append(signal.Signals(signum).name)
    print('trainer got', ' '.join(got), flush=True)
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, handler)
print('ready', flush=True)
end = time.time() + 10
while len(got) < int(sys.argv[1]) and time.time() < end:
    time.sleep(0.01)
time.sleep(0.2)  # a second signal of the launcher's own would arrive here
print('exiting with', sys.argv[2], 'after', ' '.join(got) or 'nothing', flush=True)
sys.exit(int(sys.argv[2]))
"""


@pytest.fixture
def guarded():
    """Our own handlers for the relayed signals: launch() must replace them while it runs and put them back."""
    reached_us: list[int] = []
    mine = lambda signum, frame: reached_us.append(signum)  # noqa: E731
    saved = {s: signal.signal(s, mine) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield mine, reached_us
    for s, h in saved.items():
        signal.signal(s, h)


def send_on(word: str, *sigs: int):
    """An echo hook that sends one signal to this process each time a line contains ``word``."""
    queue = list(sigs)

    def hook(line: str) -> None:
        if word in line and queue:
            os.kill(os.getpid(), queue.pop(0))

    return hook


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_one_signal_reaches_the_trainer_once_and_the_run_says_what_was_lost(tmp_path, guarded, sig):
    mine, reached_us = guarded
    code, lines = run(tmp_path, COUNTING, "1", "0", on_line=send_on("ready", sig))
    assert code == 128 + sig  # the trainer exited 0, yet the run was stopped: a shell's code for the signal
    assert lines == [
        "ready",
        f"{sig.name} passed to the trainer: stopping now (nothing is saved on the way out)",
        f"trainer got {sig.name}",
        f"exiting with 0 after {sig.name}",
        "stopped before the first training step: nothing was lost",
    ]
    assert reached_us == []
    assert all(signal.getsignal(s) is mine for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    assert (
        (tmp_path / "run" / "train.log")
        .read_text()
        .endswith(
            f"exiting with 0 after {sig.name}\n# interrupted ({sig.name}): stopped before the first training step: nothing was lost\n"
        )
    )
    assert (record(tmp_path)["exit_code"], record(tmp_path)["interrupted"]) == (0, True)


def test_a_second_signal_is_passed_on_too_and_the_first_one_names_the_run(tmp_path, guarded):
    hooks = [send_on("ready", signal.SIGTERM), send_on("trainer got SIGTERM", signal.SIGINT)]
    code, lines = run(tmp_path, COUNTING, "2", "0", on_line=lambda line: [h(line) for h in hooks])
    assert code == 128 + signal.SIGTERM
    assert [line for line in lines if "passed to the trainer" in line] == [
        "SIGTERM passed to the trainer: stopping now (nothing is saved on the way out)",
        "SIGINT passed to the trainer: stopping now (nothing is saved on the way out)",
    ]
    assert "exiting with 0 after SIGTERM SIGINT" in lines
    assert "# interrupted (SIGTERM): " in (tmp_path / "run" / "train.log").read_text()


def test_a_stopped_trainer_that_fails_keeps_its_own_code(tmp_path, guarded):
    code, _ = run(tmp_path, COUNTING, "1", "5", on_line=send_on("ready", signal.SIGINT))
    assert code == 5
    assert (record(tmp_path)["exit_code"], record(tmp_path)["interrupted"]) == (5, True)


def test_a_launcher_started_ignoring_sigint_still_stops_the_trainer(tmp_path, guarded):
    # a background job of a script starts with SIGINT ignored, and exec keeps an ignored signal
    # ignored: the trainer must still start with SIGINT at its default, or a relayed Ctrl-C stops nothing
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    script = "import time\nprint('ready', flush=True)\ntime.sleep(10)\nprint('slept on', flush=True)"
    started = time.time()
    code, lines = run(tmp_path, script, on_line=send_on("ready", signal.SIGINT))
    assert code == 130 and record(tmp_path)["exit_code"] == 130  # it died of its own KeyboardInterrupt
    assert "slept on" not in lines and time.time() - started < 8
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # ours again afterwards


def test_a_signal_while_the_trainer_starts_reaches_it_once_it_exists(tmp_path, guarded, monkeypatch):
    import ascii_lora.train.launcher as launcher

    def starting(argv):  # the user's kill lands between our handlers going in and the trainer existing
        os.kill(os.getpid(), signal.SIGTERM)
        return argv

    monkeypatch.setattr(launcher, "resolve_launcher", starting)
    code, lines = run(tmp_path, COUNTING, "1", "0")
    assert (
        code == 143 and record(tmp_path)["exit_code"] == 143
    )  # SIGTERM's default: it never got to its handler
    assert lines == [
        "SIGTERM passed to the trainer: stopping now (nothing is saved on the way out)",
        "stopped before the first training step: nothing was lost",
    ]
    assert guarded[1] == []


DYING = """
import os, signal, sys, time
os.makedirs(sys.argv[1], exist_ok=True)
for step in (10, 20, 30):
    print(f'steps:  {step // 3}%|#         | {step}/300 [00:03<00:27, 10it/s]', flush=True)
for name in sys.argv[2:]:
    os.mkdir(os.path.join(sys.argv[1], name)) if not name.endswith('.file') else open(os.path.join(sys.argv[1], name[:-5]), 'w').close()
print('steps:  12%|#1        | 37/300 [00:04<00:27, 10it/s] ready', flush=True)
time.sleep(10)  # no handler of its own, like sd-scripts at the pinned commit
"""


def interrupted(
    tmp_path: Path, out: Path | None, *made: str, name: str = "flux", every: str | None = "20"
) -> tuple[int, list[str]]:
    """A trainer at step 37 stopped by SIGINT, after making ``made`` (state folders; ``x.file``: a file x) in ``out``."""
    where = ["--output_dir", str(out)] if out is not None else []
    flags = [*where, "--output_name", name, *(["--save_every_n_steps", every] if every else [])]
    script = DYING.replace("sys.argv[2:]", repr(list(made))).replace(
        "sys.argv[1]", repr(str(out or tmp_path / "run"))
    )
    return run(tmp_path, script, *flags, on_line=send_on("ready", signal.SIGINT))


def test_ctrl_c_names_the_last_state_this_run_saved_and_what_is_lost(tmp_path, guarded):
    out = tmp_path / "out"
    code, lines = interrupted(tmp_path, out, "flux-step00000030-state", "flux-step00000020-state")
    assert code == 130  # the trainer died of its KeyboardInterrupt
    summary = (
        "stopped at step 37; the last state this run saved is step 30 (flux-step00000030-state): "
        "7 step(s) since then are lost. `make train RESUME=1` continues from it"
    )
    assert lines[-1] == summary
    assert f"# interrupted (SIGINT): {summary}\n" in (tmp_path / "run" / "train.log").read_text()
    assert (
        record(tmp_path)["last_step"],
        record(tmp_path)["exit_code"],
        record(tmp_path)["interrupted"],
    ) == (37, 130, True)


def test_without_output_dir_the_states_are_looked_for_beside_the_log(tmp_path, guarded):
    _, lines = interrupted(tmp_path, None, "flux-step00000020-state")
    assert lines[-1].startswith(
        "stopped at step 37; the last state this run saved is step 20 (flux-step00000020-state)"
    )


def test_only_this_runs_own_state_folders_count(tmp_path, guarded):
    out = tmp_path / "out"
    out.mkdir()
    old = (
        out / "flux-step00000030-state"
    )  # left by a launch that ended a moment ago (a second of clock slack allowed)
    old.mkdir()
    os.utime(old, (time.time() - 1.5, time.time() - 1.5))
    made = (
        "other-step00000035-state",
        "flux-step00000036-state.file",
        "flux-step00000036-state-tmp",
        "flux-step0000036-state",
    )
    _, lines = interrupted(tmp_path, out, *made)
    assert lines[-1] == (
        "stopped at step 37 before this run saved any state (one is saved every 20 steps): "
        "these 37 step(s) are lost"
    )
    _, lines = interrupted(tmp_path, tmp_path / "out2", every=None)
    assert lines[-1] == "stopped at step 37 before this run saved any state: these 37 step(s) are lost"


def test_without_output_name_the_states_have_sd_scripts_default_name(tmp_path, guarded):
    # sd-scripts names its states "at-stepNNNNNNNN-state" when --output_name is not given
    script = DYING.replace("sys.argv[2:]", "['at-step00000020-state']").replace(
        "sys.argv[1]", repr(str(tmp_path / "run"))
    )
    _, lines = run(tmp_path, script, on_line=send_on("ready", signal.SIGINT))
    assert lines[-1].startswith(
        "stopped at step 37; the last state this run saved is step 20 (at-step00000020-state)"
    )


def test_a_flag_without_its_value_is_not_read_past_the_end(tmp_path, guarded):
    # "--output_dir" last: no value, so the states are looked for beside the log
    script = DYING.replace("sys.argv[2:]", "['flux-step00000020-state']").replace(
        "sys.argv[1]", repr(str(tmp_path / "run"))
    )
    _, lines = run(
        tmp_path, script, "--output_name", "flux", "--output_dir", on_line=send_on("ready", signal.SIGINT)
    )
    assert lines[-1].startswith(
        "stopped at step 37; the last state this run saved is step 20 (flux-step00000020-state)"
    )


def test_interruption_report_never_counts_negative_steps():
    assert interruption_report(15, [(20, "x-step00000020-state")], "20") == (
        "stopped at step 15; the last state this run saved is step 20 (x-step00000020-state): "
        "0 step(s) since then are lost. `make train RESUME=1` continues from it"
    )
    assert (
        interruption_report(None, [(20, "x")], None)
        == "stopped before the first training step: nothing was lost"
    )
    assert (
        interruption_report(0, [], None)
        == "stopped at step 0 before this run saved any state: these 0 step(s) are lost"
    )


def test_outside_the_main_thread_it_runs_and_leaves_signals_alone(tmp_path):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(run(tmp_path, "import sys; sys.exit(3)")[0]))
    t.start()
    t.join(30)
    assert result == [3]
    assert {s: signal.getsignal(s) for s in before} == before


def test_accelerate_is_this_environments_own(tmp_path, monkeypatch):
    venv_bin, path_bin = tmp_path / "venv" / "bin", tmp_path / "path"
    venv_bin.mkdir(parents=True)
    path_bin.mkdir()
    monkeypatch.setattr(sys, "executable", str(venv_bin / "python"))
    monkeypatch.setenv("PATH", str(path_bin))
    argv = ["accelerate", "launch", "--num_processes", "1", "train.py"]
    with pytest.raises(FileNotFoundError) as e:
        resolve_launcher(argv)
    assert str(e.value) == "accelerate is not installed in this environment: run `make setup-train`"
    (path_bin / "accelerate").write_text("#!/bin/sh\n")
    (path_bin / "accelerate").chmod(0o755)
    assert resolve_launcher(argv) == argv  # only one on PATH: that one
    (venv_bin / "accelerate").write_text("#!/bin/sh\n")
    assert resolve_launcher(argv) == [
        str(venv_bin / "accelerate"),
        "launch",
        "--num_processes",
        "1",
        "train.py",
    ]
    assert resolve_launcher(["python", "accelerate"]) == ["python", "accelerate"]
    assert resolve_launcher([]) == []


def test_the_log_is_on_disk_while_the_trainer_runs_and_lines_print_by_default(tmp_path, capsys):
    # `tail -f train.log` follows a run: each line reaches the file as it arrives, not at the end
    log = tmp_path / "run" / "train.log"
    script = (
        f"import time\nprint('first', flush=True)\nend = time.time() + 10\n"
        f"while 'first' not in open({str(log)!r}).read() and time.time() < end: time.sleep(0.02)\n"
        f"print('log has first:', 'first' in open({str(log)!r}).read(), flush=True)"
    )
    assert launch([sys.executable, "-c", script], tmp_path, log) == 0
    assert capsys.readouterr().out == "first\nlog has first: True\n"


def test_a_trainer_that_cannot_start_leaves_our_signal_handlers_in_place(tmp_path, guarded):
    mine, _ = guarded
    with pytest.raises(FileNotFoundError):
        run(tmp_path, "pass", cwd=tmp_path / "no-such-folder")
    assert all(signal.getsignal(s) is mine for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))


def test_the_log_is_utf8_whatever_our_locale(tmp_path):
    # under LC_CTYPE=C a locale-encoded log would be ASCII and fail on the first non-ASCII character
    import locale

    old = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "C")
        code, lines = run(tmp_path, "print('caf\\u00e9 \\u2713 done')")
    finally:
        locale.setlocale(locale.LC_CTYPE, old)
    assert code == 0 and lines[0].startswith("caf") and lines[0].endswith(" done")
    log = (tmp_path / "run" / "train.log").read_bytes().decode("utf-8")
    assert log.endswith(lines[0] + "\n")


def test_stop_report_names_the_state_it_waited_for_in_the_runs_own_steps():
    from ascii_lora.train.launcher import stop_report

    saved = [(250, "flux-step00000250-state"), (500, "flux-step00000500-state")]
    assert stop_report(500, saved) == (
        "stopped as asked, right after the trainer saved its state at step 500 "
        "(flux-step00000500-state): nothing is lost; `make train RESUME=1` continues from it"
    )
    # a resumed segment counts from 0 again: its step 2 is the run's step 6, and so is the state's name
    assert stop_report(2, [(2, "flux-step00000002-state")], offset=4) == (
        "stopped as asked, right after the trainer saved its state at step 6 (flux-step00000006-state): "
        "nothing is lost; `make train RESUME=1` continues from it"
    )
    # a state this launch did not see on disk is not named
    assert stop_report(750, saved) == (
        "stopped as asked, right after the trainer saved its state at step 750: "
        "nothing is lost; `make train RESUME=1` continues from it"
    )
