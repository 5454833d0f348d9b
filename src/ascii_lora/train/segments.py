"""After a resumed segment: move what it saved into the run directory under cumulative step numbers.

sd-scripts counts every launch from step 0 (see runs.py), so a segment resumed at step N writes
``-step00000002`` for what is step N+2 of the run. It writes into its own folder
``resume-from-step{N:08d}/`` (nothing of the run can be overwritten while it trains), and
``adopt`` then renames its LoRAs, states and samples to the numbers an uninterrupted run would
have used, and records the true step inside them: ``ss_steps`` / ``ss_max_train_steps`` in each
LoRA's metadata and ``current_step`` in each state's ``train_state.json``, marked so that an
adoption interrupted half way and run again never adds N twice. The folder is adopted after the
trainer exits however it exits, and again before the next launch if the launcher itself was
killed. A name already taken in the run directory is never overwritten: the file stays in the
segment folder and is reported.

Every launch is recorded in ``run.json`` ``segments``: its offset, the steps it was asked for,
the state it resumed from, and (after it ended) the last cumulative step it saved.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..fsutil import atomic_write
from .runs import SEGMENT_DIR, TRAIN_STATE, Segment, state_step
from .safetensors_header import NotSafetensors, read_header, rewrite_metadata

MARK = "ascii_lora_step_offset"  # written into adopted files: the offset already added
RUN_JSON = "run.json"


@dataclass
class Adoption:
    segment: Path
    offset: int
    moved: list[tuple[str, str]] = field(default_factory=list)  # (name in segment, name in run dir)
    kept: list[str] = field(default_factory=list)  # left in the segment folder: target name taken
    last_step: int | None = None  # newest cumulative step saved (a state or a step LoRA)


def _renumber(name: str, output_name: str, offset: int) -> tuple[str, int | None]:
    """The run-directory name of a segment file, and the cumulative step it holds (None: not a step file)."""
    n = re.escape(output_name)
    m = re.match(rf"^({n}-step)(\d{{8}})((?:-state)?(?:\.safetensors)?)$", name)
    if m:
        step = int(m.group(2)) + offset
        return f"{m.group(1)}{step:08d}{m.group(3)}", step
    m = re.match(
        rf"^({n}_)(\d{{6}})(_\d{{2}}_\d{{14}}(?:_\d+)?\.png)$", name
    )  # samples (flux_train_utils.py)
    if m:
        step = int(m.group(2)) + offset
        return f"{m.group(1)}{step:06d}{m.group(3)}", None
    return name, None


def _mark_state(state_dir: Path, offset: int, total: int) -> int | None:
    """Make a state's ``train_state.json`` hold the cumulative step (once); returns it."""
    f = state_dir / TRAIN_STATE
    try:
        data = json.loads(f.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    if MARK not in data:
        data["current_step"] = int(data.get("current_step", 0)) + offset
        data[MARK] = offset
        data["ascii_lora_max_train_steps"] = total
        atomic_write(f, json.dumps(data))
    return int(data["current_step"])


def _mark_lora(path: Path, offset: int, total: int) -> None:
    try:
        meta = read_header(path).metadata
    except NotSafetensors:
        return
    if MARK in meta:
        return
    updates = {MARK: str(offset), "ss_max_train_steps": str(total)}
    if meta.get("ss_steps", "").isdigit():
        updates["ss_steps"] = str(int(meta["ss_steps"]) + offset)
    rewrite_metadata(path, updates)


def adopt(segment_dir: Path, run_dir: Path, output_name: str, total: int) -> Adoption:
    """Move one segment folder's outputs into ``run_dir`` with cumulative numbers (idempotent)."""
    m = SEGMENT_DIR.match(segment_dir.name)
    if not m:
        raise ValueError(f"{segment_dir} is not a segment folder")
    offset = int(m.group("offset"))
    result = Adoption(segment_dir, offset)
    steps: list[int] = []
    for src in sorted(segment_dir.iterdir()):
        if src.name == "sample" and src.is_dir():
            (run_dir / "sample").mkdir(parents=True, exist_ok=True)
            for img in sorted(src.iterdir()):
                new, _ = _renumber(img.name, output_name, offset)
                _move(img, run_dir / "sample" / new, result, f"sample/{img.name}", f"sample/{new}")
            _rmdir(src)
            continue
        new, step = _renumber(src.name, output_name, offset)
        final_state = src.name == f"{output_name}-state"
        if src.is_dir() and (step is not None or final_state):
            s = _mark_state(src, offset, total)
            if s is not None:
                steps.append(s)
        elif src.suffix == ".safetensors" and (step is not None or src.name == f"{output_name}.safetensors"):
            _mark_lora(src, offset, total)
            if step is not None:
                steps.append(step)
        _move(src, run_dir / new, result, src.name, new)
    _rmdir(segment_dir)
    result.last_step = max(steps) if steps else None
    return result


def _move(src: Path, dst: Path, result: Adoption, a: str, b: str) -> None:
    if dst.exists():
        result.kept.append(a)
        return
    os.replace(src, dst)
    result.moved.append((a, b))


def _rmdir(d: Path) -> None:
    try:
        d.rmdir()
    except OSError:
        pass  # something was kept: it stays for the user to see


def pending(run_dir: Path) -> list[Path]:
    """Segment folders not yet (fully) adopted, oldest offset first."""
    if not run_dir.is_dir():
        return []
    return sorted(d for d in run_dir.iterdir() if d.is_dir() and SEGMENT_DIR.match(d.name))


def adopt_pending(run_dir: Path, output_name: str, total: int) -> list[Adoption]:
    return [adopt(d, run_dir, output_name, total) for d in pending(run_dir)]


# -- run.json ---------------------------------------------------------------------------------------


def read_record(run_dir: Path) -> dict:
    try:
        data = json.loads((run_dir / RUN_JSON).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return {}


def segments_with(run_dir: Path, segment: Segment) -> list[dict]:
    """The ``segments`` list for run.json: the earlier launches and this one (not yet ended).

    Only launches that came before the state resumed from are this run's history: a segment at or past
    its step belongs to a run that was superseded (its newer states deleted, or an older state chosen).
    """
    recorded = read_record(run_dir).get("segments") if segment.resumed else None
    earlier = (
        [
            s
            for s in recorded
            if isinstance(s, dict)
            and isinstance(s.get("offset"), int)
            and not isinstance(s.get("offset"), bool)
            and s["offset"] < segment.offset
        ]
        if isinstance(recorded, list)
        else []
    )
    return [
        *earlier,
        {
            "offset": segment.offset,
            "max_train_steps": segment.total,
            "trainer_max_train_steps": segment.steps,
            "resume_from": str(segment.resume_from) if segment.resume_from else None,
            "output_dir": str(segment.output_dir),
        },
    ]


def close_segment(
    run_dir: Path, output_name: str, segment: Segment, exit_code: int | None
) -> Adoption | None:
    """After the trainer exits: adopt a resumed segment's files and write its outcome into run.json."""
    adoption = None
    if segment.resumed and segment.output_dir.is_dir():
        adoption = adopt(segment.output_dir, run_dir, output_name, segment.total)
    record = read_record(run_dir)
    segs = record.get("segments") or segments_with(run_dir, segment)
    last = segs[-1]
    last["exit_code"] = exit_code
    if adoption is not None:
        last["last_saved_step"] = adoption.last_step
        last["renamed"] = len(adoption.moved)
        last["kept_in_segment_folder"] = adoption.kept
    else:
        steps = [s for s in (state_step(d) for d in run_dir.glob(f"{output_name}-*state")) if s is not None]
        last["last_saved_step"] = max(steps) if steps else None
    record["segments"] = segs
    atomic_write(run_dir / RUN_JSON, json.dumps(record, indent=1))
    return adoption
