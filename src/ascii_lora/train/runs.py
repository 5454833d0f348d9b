"""Where a run lives on disk: path resolution, the scan of saved states, and which segment comes next.

Kept apart from plan.py so that the plan stays a pure function of the config; these are the
only places that look at the file system to decide what the trainer is told.

A run is trained in segments: the first from step 0, each ``RESUME=1`` from the newest saved
state. sd-scripts restarts its step counter at 0 on every resume (train_network.py at the pin:
``global_step = 0`` and only whole epochs skipped), so the project owns the cumulative step: a
resumed segment trains only the remaining steps into its own folder
``resume-from-step{N:08d}/``, and segments.py moves what it saved into the run directory under
the cumulative step numbers. Every state in the run directory therefore carries its cumulative
step in its own ``train_state.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

TRAIN_STATE = "train_state.json"  # sd-scripts' own record inside each saved state
SEGMENT_PREFIX = "resume-from-step"
SEGMENT_DIR = re.compile(r"^resume-from-step(?P<offset>\d{8})$")


def resolve_path(root: Path, p: str | Path) -> str:
    """A config path as the trainer must see it: ~ expanded, relative to the checkout, absolute."""
    path = Path(p).expanduser()
    return str(path if path.is_absolute() else (root / path).resolve())


def run_dir_of(root: Path, output_dir: str | Path, override: str | Path | None = None) -> Path:
    """The run directory every command means: ``--run-dir`` when given, else ``[training] output_dir``."""
    return Path(resolve_path(Path(root).resolve(), override or output_dir))


def refuse_run_in_dataset(run_dir: Path, dataset: Path, view: Path | None = None) -> None:
    """A run folder is never the dataset folder nor inside it, and SimpleTuner's link folder (``view``) never
    overlaps it: checkpoints, states, samples and links would land among (or replace) the training images."""
    named = "the run folder ([training] output_dir or --run-dir)"
    run, data = Path(run_dir).resolve(), Path(dataset).resolve()
    if run == data or data in run.parents:
        where = "is the" if run == data else "is inside the"
        raise UserError(
            f"{named} {run_dir} {where} dataset folder {dataset} ([dataset] out): the trainer "
            "would write its checkpoints, states and samples among the training images; choose a "
            "run folder outside it"
        )
    if view is not None:
        v = Path(view).resolve()
        if v == data or data in v.parents or v in data.parents:
            raise UserError(
                f"{named} {run_dir}: its link folder {view}, which SimpleTuner trains on, would "
                f"overlap the dataset folder {dataset} ([dataset] out) and replace its files with "
                "links; choose a run folder whose dataset/ is not the dataset, or move the dataset"
            )


@dataclass(frozen=True)
class SavedState:
    path: Path
    step: int  # cumulative optimizer steps done when it was saved
    final: bool  # the ``{name}-state`` sd-scripts writes when a run ends


def state_step(state_dir: Path) -> int | None:
    """The optimizer steps a state records in its own ``train_state.json`` (None: absent or unreadable)."""
    try:
        data = json.loads((state_dir / TRAIN_STATE).read_text())
        return int(data["current_step"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):  # RecursionError: absurdly nested JSON
        return None


def half_written(state_dir: Path) -> bool:
    """A save that was cut short (Ctrl-C or a crash during ``accelerator.save_state``).

    sd-scripts' pre-save hook writes ``train_state.json`` first and accelerate writes its random
    states (``random_states_<process>.pkl``) last, so the first without the second is a state
    whose weights or optimizer may be missing or truncated: resuming from it would fail only
    after every model is loaded.
    """
    return (state_dir / TRAIN_STATE).exists() and not any(state_dir.glob("random_states_*.pkl"))


def _state_dirs(run_dir: Path, output_name: str) -> list[tuple[Path, re.Match[str] | None, bool]]:
    pattern = re.compile(rf"^{re.escape(output_name)}-step(\d{{8}})-state$")
    out = []
    for d in run_dir.glob(f"{output_name}-*state") if run_dir.is_dir() else ():
        m = pattern.match(d.name)
        final = d.name == f"{output_name}-state"
        if d.is_dir() and (m or final):
            out.append((d, m, final))
    return out


def why_not_resumable(state_dir: Path) -> str | None:
    """Why a folder named like a state is no state to resume from (None: it is one).

    sd-scripts at the pin writes ``train_state.json`` into every state it saves: a folder without a
    readable one (copied by hand, cut short, or just named so) says nothing true about its step.
    """
    if not (state_dir / TRAIN_STATE).is_file():
        return f"it has no {TRAIN_STATE}, which sd-scripts writes into every state it saves"
    if half_written(state_dir):
        return "its save was cut short (no random_states_*.pkl, which accelerate writes last)"
    if state_step(state_dir) is None:
        return f"its {TRAIN_STATE} holds no readable current_step"
    return None


def incomplete_states(run_dir: Path, output_name: str) -> list[tuple[Path, str]]:
    """(state, why) for the folders named like states that ``saved_states`` passes over."""
    found = [(d, why_not_resumable(d)) for d, _, _ in _state_dirs(run_dir, output_name)]
    return sorted((d, why) for d, why in found if why is not None)


def saved_states(run_dir: Path, output_name: str) -> list[SavedState]:
    """Every resumable state in the run directory, oldest step first (the final one last among equals).

    The step comes from the state itself, never from its name: before segments existed, a resumed
    run wrote a ``-state`` and ``-step00000002-state`` of its own counter over the first run's.
    A folder without a readable ``train_state.json``, or half-written, is no state and is left out.
    """
    out = [
        SavedState(d, step, final)
        for d, _, final in _state_dirs(run_dir, output_name)
        if why_not_resumable(d) is None and (step := state_step(d)) is not None
    ]
    return sorted(out, key=lambda s: (s.step, s.final))


def latest_state(run_dir: Path, output_name: str) -> Path | None:
    """Newest resumable state by the step it recorded (a final state wins a tie)."""
    states = saved_states(run_dir, output_name)
    return states[-1].path if states else None


@dataclass(frozen=True)
class Segment:
    """One launch of the trainer: where it writes and which cumulative steps it owns."""

    offset: int  # cumulative steps done before it starts
    total: int  # the run's max_train_steps
    output_dir: Path  # the run directory for the first segment, its own folder for a resumed one
    resume_from: Path | None

    @property
    def steps(self) -> int:
        """Optimizer steps this segment trains: what sd-scripts must be told as --max_train_steps."""
        return self.total - self.offset

    @property
    def resumed(self) -> bool:
        return self.resume_from is not None


class FinishedRun(UserError):
    """RESUME=1 on a run whose saved state already holds every step: refused before any model loads."""


def segment_dir(run_dir: Path, offset: int) -> Path:
    return run_dir / f"{SEGMENT_PREFIX}{offset:08d}"


def next_segment(run_dir: Path, output_name: str, max_train_steps: int, resume: bool) -> Segment:
    """The segment a launch would run. A resume starts at the newest state's cumulative step.

    sd-scripts would only find out that a run is finished after loading every model (its
    ``max_train_steps > initial step`` assert), or, after an earlier resume, train another epoch
    past the end; both are refused here, with what to raise.
    """
    if not resume:
        return Segment(0, max_train_steps, run_dir, None)
    states = saved_states(run_dir, output_name)
    if not states:
        return Segment(0, max_train_steps, run_dir, None)  # pre-flight says that nothing is saved
    last = states[-1]
    if last.step >= max_train_steps:
        raise FinishedRun(
            f"{run_dir}: nothing to resume: {last.path.name} already holds {last.step} steps and "
            f"[training] max_train_steps = {max_train_steps}; raise max_train_steps above {last.step} "
            "to train on from it, or start a fresh run without RESUME=1"
        )
    return Segment(last.step, max_train_steps, segment_dir(run_dir, last.step), last.path)
