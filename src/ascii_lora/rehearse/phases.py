"""The rehearsal's phases, in the order they run: adding a phase is one function and one entry here.

A phase is ``fn(state) -> detail``: it raises (``judging._expect``) when what it left on disk is wrong,
may fill a field of ``RehearsalState`` for a later phase, and returns the line printed after OK.
Its name is the label of the OK/FAIL line and of rehearsal.json's phase record.
"""

from __future__ import annotations

from collections.abc import Callable

from . import phases_outputs as outputs
from . import phases_prepare as prepare
from . import phases_train as training
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
