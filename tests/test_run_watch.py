"""Watching the trainer's output: ETA lines in cumulative steps, checkpoint messages once the step's
validation is done, the summary, and the message for each way a run ends.

The output lines are sd-scripts' own (tqdm's bar, save_model's "saving checkpoint:"); the clock is
a fake the test advances, so nothing depends on how fast the machine is.
"""

from __future__ import annotations

from ascii_lora.train.watch import RunWatch


class FakeHook:
    def __init__(self):
        self.sent: list[str] = []

    def send(self, message) -> None:
        self.sent.append(message() if callable(message) else message)


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def bar(step: int, total: int) -> str:
    return f"steps:  {100 * step // total}%|###       | {step}/{total} [00:10<00:20,  2.00s/it, avr_loss=0.4]"


def watch(offset=0, total=10, describe=None):
    clock, hook = Clock(), FakeHook()
    w = RunWatch(
        run="flux_ascii",
        total=total,
        offset=offset,
        webhook=hook,
        describe_step=describe,
        now=clock,
        every_s=60,
    )
    return w, clock, hook


def test_eta_lines_count_in_the_runs_steps_after_a_resume():
    w, clock, _ = watch(offset=4, total=10)
    assert w.feed(bar(0, 6)) == []
    clock.t += 60
    assert w.feed(bar(1, 6)) == ["progress: step 5/10, 60.00 s/step measured, about 5 min 0 s left"]
    clock.t += 60
    assert w.feed(bar(2, 6)) == ["progress: step 6/10, 60.00 s/step measured, about 4 min 0 s left"]
    assert w.record()["step"] == 6 and w.record()["seconds_per_step"] == 60.0 and w.record()["eta_s"] == 240


def test_a_checkpoint_message_waits_for_the_next_step_and_carries_what_describe_says():
    described: list[int] = []

    def describe(step: int) -> str:
        described.append(step)
        return f"validation loss 0.41 at step {step}; check: 3 of 4 samples pass"

    w, clock, hook = watch(describe=describe)
    w.feed(bar(0, 10))
    clock.t += 60
    w.feed(bar(2, 10))
    w.feed("saving checkpoint: /runs/x/flux_ascii-step00000002.safetensors")
    w.feed(bar(2, 10))  # set_postfix after the save: the same step, validation still to come
    w.feed("validation steps: 100%|##########| 4/4")
    assert hook.sent == [] and described == []
    w.feed(bar(3, 10))
    assert hook.sent == [
        "ascii-lora flux_ascii: checkpoint saved at step 2/10. "
        "validation loss 0.41 at step 2; check: 3 of 4 samples pass"
    ]
    assert w.record()["checkpoints"] == [2]


def test_the_last_checkpoint_is_sent_at_the_end_then_the_end_message_with_the_summary():
    w, clock, hook = watch(offset=0, total=4)
    w.feed(bar(0, 4))
    clock.t += 30
    w.feed(bar(4, 4))
    w.feed("saving checkpoint: /runs/x/flux_ascii.safetensors")
    w.feed("peak CUDA memory: 18.40 GiB allocated, 20.41 GiB reserved")
    clock.t += 5
    summary = w.finished(0)
    assert summary == (
        "summary: steps 0->4 of 4, wall time 35 s, 7.50 s/step, "
        "peak VRAM 18.40 GiB allocated, 20.41 GiB reserved"
    )
    assert hook.sent == [
        "ascii-lora flux_ascii: checkpoint saved at step 4/4",
        f"ascii-lora flux_ascii: training finished. {summary}",
    ]


def test_a_failure_sends_its_exit_code_and_the_last_lines():
    w, _, hook = watch()
    for i in range(20):
        w.feed(f"line {i}\n")
    w.feed("RuntimeError: CUDA out of memory")
    w.finished(1)
    assert hook.sent[0].startswith(
        "ascii-lora flux_ascii: training failed with exit code 1. summary: steps 0->0 of 10"
    )
    assert hook.sent[0].endswith("line 19\nRuntimeError: CUDA out of memory")
    assert "line 8\n" not in hook.sent[0] and "line 9\n" in hook.sent[0]  # the last 12 lines


def test_a_stop_says_what_was_kept():
    w, _, hook = watch()
    w.finished(0, stop_text="stopped as asked at step 4: nothing is lost.")
    assert hook.sent == [
        "ascii-lora flux_ascii: stopped. stopped as asked at step 4: nothing is lost. "
        "summary: steps 0->0 of 10, wall time 0 s, s/step not measured (fewer than 2 steps)"
    ]


def test_launch_says_where_the_run_starts():
    w, _, hook = watch(offset=4)
    w.launched("expected duration 12 s (measured on one NVIDIA H100 80GB HBM3; slower cards take longer)")
    assert hook.sent == [
        "ascii-lora flux_ascii: training launched, step 4/10. expected duration 12 s "
        "(measured on one NVIDIA H100 80GB HBM3; slower cards take longer)"
    ]
