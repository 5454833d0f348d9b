"""`ascii-lora stop`: a running training stops right after its next complete state, and nothing is lost.

The fake trainer below prints what sd-scripts prints at the pin (tqdm "steps:" lines, the
"saving state at step N" log line before accelerator.save_state, the set_postfix refresh after it)
and dies on SIGINT the way Python does; the real trainer's behaviour is proven by `make rehearse`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from ascii_lora.cli.app import main
from ascii_lora.errors import UserError
from ascii_lora.train.launcher import STOP_REQUEST, interruption_report, launch, process_start_ticks
from ascii_lora.train.stop import cancel_stop, request_stop

# argv[1]: run dir; argv[2]: "ask" = write the stop request after step 1 (a user running
# `ascii-lora stop` mid-run). Saves a state every 2 steps, 6 steps in all.
FAKE = r"""
import sys, time, os
from pathlib import Path
run, ask = Path(sys.argv[1]), sys.argv[2] == "ask"
on_sigint = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3].isdigit() else 130  # accelerate may say 1
def bar(i, post=""):
    print(f"steps: {100*i//6:3d}%|###  | {i}/6 [00:01<00:05, 1.00s/it{post}]", file=sys.stderr, flush=True)
try:
    for i in range(1, 7):
        time.sleep(0.05)
        bar(i)
        if i == 1 and ask:
            (run / "stop.request").write_text("{}")
        if i % 2 == 0:
            print(f"INFO     saving state at step {i}           train_util.py:5964", flush=True)
            state = run / f"fake-step{i:08d}-state"
            state.mkdir()
            time.sleep(0.3)  # accelerator.save_state
            (state / "random_states_0.pkl").write_bytes(b"x")
        bar(i, ", avr_loss=0.1")  # set_postfix: after the save returned
        time.sleep(1.0 if i % 2 == 0 else 0.05)  # the next step's work
        print(f"worked past step {i}", flush=True)
    print("finished all 6 steps", flush=True)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    sys.exit(on_sigint)
"""


def run_fake(tmp_path: Path, ask: bool, offset: int = 0, on_sigint: int = 130) -> tuple[int, list[str], str]:
    lines: list[str] = []
    script = tmp_path / "fake_trainer.py"
    script.write_text(FAKE)
    argv = [
        sys.executable,
        str(script),
        str(tmp_path),
        "ask" if ask else "no",
        str(on_sigint),
        "--output_dir",
        str(tmp_path),
        "--output_name",
        "fake",
    ]
    code = launch(
        argv,
        tmp_path,
        tmp_path / "train.log",
        echo=lines.append,
        stop_request=tmp_path / STOP_REQUEST,
        step_offset=offset,
    )
    return code, lines, (tmp_path / "train.log").read_text()


def test_a_requested_stop_waits_for_the_next_complete_state_then_stops_with_exit_0(tmp_path):
    code, lines, log = run_fake(tmp_path, ask=True)
    assert code == 0
    assert (tmp_path / "fake-step00000002-state" / "random_states_0.pkl").exists()
    assert "worked past step 1" in log  # the request waited for the save ...
    assert (
        "worked past step 2" not in log and not (tmp_path / "fake-step00000004-state").exists()
    )  # ... then stopped
    assert lines[-1].startswith(
        "stopped as asked, right after the trainer saved its state at step 2 (fake-step00000002-state)"
    )
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["stopped_on_request_after"] == 2 and record["interrupted"] is False
    assert not (tmp_path / STOP_REQUEST).exists()  # honoured once, then gone


def test_a_resumed_segment_reports_the_runs_cumulative_step(tmp_path):
    code, lines, _ = run_fake(tmp_path, ask=True, offset=6)
    assert code == 0
    assert "saved its state at step 8 (fake-step00000008-state)" in lines[-1]


def test_without_a_request_the_saves_change_nothing(tmp_path):
    code, lines, log = run_fake(tmp_path, ask=False)
    assert code == 0
    assert "finished all 6 steps" in log
    assert json.loads((tmp_path / "run.json").read_text())["stopped_on_request_after"] is None


def test_a_request_left_from_an_earlier_launch_is_cleared_and_does_not_stop_this_one(tmp_path):
    (tmp_path / STOP_REQUEST).write_text("{}")
    code, lines, log = run_fake(tmp_path, ask=False)
    assert code == 0 and "finished all 6 steps" in log
    assert any(line.startswith("cleared an old stop request") for line in lines)


def test_ctrl_c_reports_lost_steps_in_the_runs_cumulative_count():
    report = interruption_report(5, [(4, "x-step00000004-state")], "2", offset=10)
    # the state's name as it reads once the segment's files are renumbered into the run
    assert report.startswith(
        "stopped at step 15; the last state this run saved is step 14 (x-step00000014-state): 1 step(s)"
    )
    assert "since its resume at step 10" in interruption_report(1, [], "2", offset=10)


def write_record(run: Path, **extra) -> None:
    run.mkdir(parents=True, exist_ok=True)
    record = {
        "exit_code": None,
        "launcher_pid": os.getpid(),
        "launcher_start": process_start_ticks(os.getpid()),
        **extra,
    }
    (run / "run.json").write_text(json.dumps(record))


def test_request_names_the_state_it_will_wait_for(tmp_path):
    write_record(tmp_path, segments=[{"offset": 0}, {"offset": 4}])
    (tmp_path / "train.log").write_text("steps:  10%|# | 1/6 [..]\rsteps:  50%|### | 3/6 [00:03<00:03]\n")
    req = request_stop(tmp_path, save_every=2)
    assert (req.step, req.next_save) == (7, 8)  # the resumed segment's own step 3 is the run's 7
    assert json.loads((tmp_path / STOP_REQUEST).read_text())["launcher_pid"] == os.getpid()
    assert cancel_stop(tmp_path) and not (tmp_path / STOP_REQUEST).exists()
    assert not cancel_stop(tmp_path)


def test_request_before_the_first_step_waits_for_the_first_save(tmp_path):
    write_record(tmp_path)
    req = request_stop(tmp_path, save_every=500)
    assert (req.step, req.next_save) == (None, 500)


def test_an_earlier_launchs_steps_in_the_log_are_not_the_running_ones(tmp_path):
    # found by `make rehearse`: the interrupted launch's "2/8" read as the resumed launch's step
    write_record(tmp_path, segments=[{"offset": 0}, {"offset": 2}])
    (tmp_path / "train.log").write_text(
        "\n# ascii-lora 0.1.0: accelerate launch ...\nsteps:  25%|## | 2/8 [01:00<03:00]\n"
        "\n# ascii-lora 0.1.0: accelerate launch ... --resume ...\nloading models\n"
    )
    req = request_stop(tmp_path, save_every=2)
    assert (req.step, req.next_save) == (None, 4)


@pytest.mark.parametrize(
    "record, says",
    [
        (None, "no run.json"),
        ({"exit_code": 0, "launcher_pid": 1}, "last launch ended with exit code 0"),
        ({"exit_code": None, "launcher_pid": 2**22 + 12345}, "is gone"),
        # pid 1 is alive, but it is not the launcher that wrote the record (or a hand-edited record names it)
        ({"exit_code": None, "launcher_pid": 1, "launcher_start": 123456789}, "is now another program"),
        ({"exit_code": None, "launcher_pid": 1}, "is now another program"),
        ({"exit_code": None, "launcher_pid": True}, "is gone"),
        ("[[[[]]]]", "run.json: unreadable"),
    ],
)
def test_no_request_without_a_running_training(tmp_path, record, says):
    if record is not None:
        (tmp_path / "run.json").write_text(record if isinstance(record, str) else json.dumps(record))
    with pytest.raises(UserError, match=says):
        request_stop(tmp_path, save_every=2)
    assert not (tmp_path / STOP_REQUEST).exists()


def test_cli_stop_refuses_simpletuner_and_a_run_that_is_not_running(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert main(["stop", "--run-dir", str(tmp_path), "--trainer", "simpletuner"]) == 2
    assert "SimpleTuner run stops with Ctrl-C" in capsys.readouterr().err
    assert main(["stop", "--run-dir", str(tmp_path)]) == 2
    assert "no run.json" in capsys.readouterr().err
    write_record(tmp_path)
    assert main(["stop", "--run-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "stop right after it saves its state at step 500" in out and (tmp_path / STOP_REQUEST).exists()


def test_run_json_names_the_launcher_only_after_its_log_header(tmp_path, monkeypatch):
    # found by `make rehearse`: a stop sent the moment run.json named the launcher read the
    # previous launch's steps, because the new header was not in train.log yet
    import ascii_lora.train.launcher as launcher

    seen = []
    real = launcher.atomic_write

    def spy(path, data):
        if path.name == "run.json" and '"exit_code": null' in data:
            seen.append((tmp_path / "train.log").read_text().rsplit("\n# ascii-lora ", 1)[-1])
        return real(path, data)

    monkeypatch.setattr(launcher, "atomic_write", spy)
    (tmp_path / "train.log").write_text("steps:  25%|## | 2/8 [01:00<03:00]\n")
    launch([sys.executable, "-c", "pass"], tmp_path, tmp_path / "train.log", echo=lambda s: None)
    assert (
        seen and "2/8" not in seen[0] and seen[0].startswith("0.")
    )  # this launch's header: "<version>: argv"


@pytest.mark.parametrize("trainer_exit, launch_exit", [(130, 0), (1, 0), (0, 0), (7, 7), (2, 2)])
def test_after_our_own_sigint_only_the_ways_a_sigint_ends_the_trainer_count_as_success(
    tmp_path, trainer_exit, launch_exit
):
    # Python dies of SIGINT as 130; accelerate's launcher reports its child's SIGINT as 1; any
    # other code after our SIGINT is a failure of its own and must not be hidden behind a 0
    code, lines, _ = run_fake(tmp_path, ask=True, on_sigint=trainer_exit)
    assert code == launch_exit
    assert json.loads((tmp_path / "run.json").read_text())["stopped_on_request_after"] == 2
