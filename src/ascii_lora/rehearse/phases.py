"""The rehearsal's phases, in the order they run: adding a phase is one function and one entry here.

A phase is ``fn(state) -> detail``: it raises (``judging._expect``) when what it left on disk is wrong,
may fill a field of ``RehearsalState`` for a later phase, and returns the line printed after OK.
Its name is the label of the OK/FAIL line and of rehearsal.json's phase record.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import multiproc
from . import phases_outputs as outputs
from . import phases_prepare as prepare
from . import phases_train as training
from .judging import _Fail
from .state import RehearsalState

PhaseFn = Callable[[RehearsalState], str]

PHASES: tuple[tuple[str, PhaseFn], ...] = (
    ("dataset", prepare.dataset),
    ("stand-in models", prepare.models),
    ("plan", prepare.plan),
    ("pre-flight", prepare.preflight),
    ("train, Ctrl-C after the first state", training.interrupt),
    ("RESUME=1, `ascii-lora stop`", training.stop),
    ("RESUME=1 to the end", training.resume),
    ("RESUME=1 on the finished run", training.refuse),
    ("inspect every LoRA", outputs.inspect),
    ("check the samples", outputs.check),
    ("verify: base model + last LoRA", outputs.verify),
    ("generate from a prompt", outputs.generate),
)


def two_processes(s: RehearsalState) -> str:
    """2 processes on one machine under accelerate (gloo on the CPU): docs/multi-gpu.md."""
    from .processes import _Trainer

    detail, facts = multiproc.two_processes(s.pre, s.root, s.out, _Trainer, s.on_line, s.train_timeout)
    s.facts.setdefault("multi_process", {})["two_processes"] = facts
    return detail


def two_machines(s: RehearsalState) -> str:
    """2 machines of one process each on 127.0.0.1: two launches of the same train.sh, ranks 0 and 1."""
    from .processes import _Trainer

    detail, facts = multiproc.two_machines(s.pre, s.root, s.out, _Trainer, s.on_line, s.train_timeout)
    s.facts.setdefault("multi_process", {})["two_machines"] = facts
    return detail


def compare_with_peers(s: RehearsalState) -> str:
    """Our profile against the peers' presets of its card class, 2 steps each: docs/compare.md."""
    from .compare import rehearsal_phase

    assert s.standins is not None, "the stand-in models phase runs first"
    return rehearsal_phase(
        s.user, s.root, s.out / "compare", Path(s.pre.dataset.out), s.standins, 2, s.on_line
    )


def watching(s: RehearsalState) -> str:
    """Its own short run on the rehearsal's dataset: validation loss, ETA lines and webhooks received
    here (rehearse/watching.py, docs/watching.md)."""
    from .processes import _Trainer
    from .watching import watch_phase

    def train(config: Path, log: Path, env: dict[str, str], timeout: float) -> tuple[int | None, list[str]]:
        tr = _Trainer(s.root, config, log, [], s.on_line, env=env)
        try:
            return tr.wait(timeout), tr.lines
        finally:
            if tr.proc.poll() is None:
                tr.kill()

    return watch_phase(s.pre, s.root, s.out, train, s.train_timeout)


INTEROP_PHASES = (
    "diffusers loads the LoRA",
    "diffusers maps the full-size plan",
    "ComfyUI loads the LoRA",
    "publish --dry-run: the model card",
)


def _interop(name: str) -> PhaseFn:
    """One of interop.phases' steps on the rehearsal's run (its final LoRA): docs/publish.md."""

    def phase(s: RehearsalState) -> str:
        from . import interop

        steps = dict(interop.phases(s.pre, s.root, s.run_dir, s.cache))
        try:
            return steps[name]()
        except interop.InteropError as e:
            raise _Fail(str(e)) from None

    return phase


SETUP = PHASES[:2]  # dataset and stand-ins: every group needs them
MULTI: tuple[tuple[str, PhaseFn], ...] = (
    ("2 processes on one machine", two_processes),
    ("2 machines of one process", two_machines),
)
# `rehearse --phases NAME[,NAME]`: one group on its own, after the setup phases; "all" is every phase.
GROUPS: dict[str, tuple[tuple[str, PhaseFn], ...]] = {
    "single": PHASES[2:],
    "interop": tuple((name, _interop(name)) for name in INTEROP_PHASES),
    "compare": (("compare with the peers' presets (CPU form)", compare_with_peers),),
    "multi": MULTI,
    "watch": (("validation loss, ETA and webhooks", watching),),
}


def phases_for(selection: str = "all") -> tuple[tuple[str, PhaseFn], ...]:
    """The phases of ``selection`` ("all", or group names joined by commas), setup first, in table order."""
    names = [n.strip() for n in selection.split(",") if n.strip()] or ["all"]
    if "all" in names:
        names = list(GROUPS)
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        raise ValueError(f"unknown rehearsal phase group {unknown[0]!r}: choose all or {', '.join(GROUPS)}")
    return SETUP + tuple(p for group in GROUPS for p in GROUPS[group] if group in names)
