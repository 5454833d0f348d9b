"""Adopting a resumed segment, file by file: what each name becomes and what is written inside.

tests/test_resume.py drives whole interrupted runs through `ascii-lora train`; these pin the
rules of segments.py one by one on folders built by hand, every expected name and number
worked out from the segment's offset (sd-scripts counts each launch from step 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from ascii_lora.train.runs import Segment
from ascii_lora.train.safetensors_header import read_header
from ascii_lora.train.segments import adopt, adopt_pending, close_segment, segments_with

NAME = "flux_ascii_structure_v1"


def lora(path: Path, metadata: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"a.alpha": np.array([32.0], dtype=np.float32)}, str(path), metadata=metadata)
    return path


def state(folder: Path, record: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / "train_state.json").write_text(json.dumps(record))
    (folder / "random_states_0.pkl").write_bytes(b"rng")
    return folder


def test_an_adopted_state_records_its_cumulative_step_the_offset_added_and_the_run_s_length(tmp_path):
    run = tmp_path / "run"
    seg = run / "resume-from-step00000002"
    state(seg / f"{NAME}-step00000004-state", {"current_epoch": 1, "current_step": 4})
    result = adopt(seg, run, NAME, total=8)
    record = json.loads((run / f"{NAME}-step00000006-state" / "train_state.json").read_text())
    assert record == {
        "current_epoch": 1,
        "current_step": 6,
        "ascii_lora_step_offset": 2,
        "ascii_lora_max_train_steps": 8,
    }
    assert (result.segment, result.offset, result.last_step) == (seg, 2, 6)


def test_a_state_that_records_no_step_is_taken_to_start_at_the_segment_s_offset(tmp_path):
    run = tmp_path / "run"
    seg = run / "resume-from-step00000002"
    state(seg / f"{NAME}-step00000000-state", {"current_epoch": 1})
    assert adopt(seg, run, NAME, total=8).last_step == 2
    record = json.loads((run / f"{NAME}-step00000002-state" / "train_state.json").read_text())
    assert record["current_step"] == 2


def test_an_adopted_lora_records_the_offset_added_and_the_run_s_length(tmp_path):
    run = tmp_path / "run"
    seg = run / "resume-from-step00000002"
    lora(seg / f"{NAME}-step00000004.safetensors", {"ss_steps": "4", "ss_max_train_steps": "6"})
    lora(seg / f"{NAME}.safetensors", {"tag": "no step recorded"})
    adopt(seg, run, NAME, total=8)
    assert read_header(run / f"{NAME}-step00000006.safetensors").metadata == {
        "ss_steps": "6",
        "ss_max_train_steps": "8",
        "ascii_lora_step_offset": "2",
    }
    assert read_header(run / f"{NAME}.safetensors").metadata == {
        "tag": "no step recorded",
        "ss_max_train_steps": "8",
        "ascii_lora_step_offset": "2",
    }


def test_a_folder_not_named_like_a_segment_is_refused_by_name(tmp_path):
    folder = tmp_path / "resume-from-step2"
    folder.mkdir()
    with pytest.raises(ValueError) as e:
        adopt(folder, tmp_path, NAME, total=8)
    assert str(e.value) == f"{folder} is not a segment folder"


def test_samples_move_into_the_run_s_sample_folder_under_cumulative_numbers_and_are_listed(tmp_path):
    run = tmp_path / "run"
    seg = run / "resume-from-step00000002"
    (seg / "sample").mkdir(parents=True)
    for local in (0, 2):
        (seg / "sample" / f"{NAME}_{local:06d}_00_20261125120000_42.png").write_bytes(b"png")
    lora(seg / f"{NAME}-step00000002.safetensors", {"ss_steps": "2"})
    result = adopt(seg, run, NAME, total=8)
    assert sorted(p.name for p in (run / "sample").iterdir()) == [
        f"{NAME}_000002_00_20261125120000_42.png",
        f"{NAME}_000004_00_20261125120000_42.png",
    ]
    assert result.moved == [
        (f"{NAME}-step00000002.safetensors", f"{NAME}-step00000004.safetensors"),
        (f"sample/{NAME}_000000_00_20261125120000_42.png", f"sample/{NAME}_000002_00_20261125120000_42.png"),
        (f"sample/{NAME}_000002_00_20261125120000_42.png", f"sample/{NAME}_000004_00_20261125120000_42.png"),
    ]
    assert result.kept == [] and not seg.exists()


def test_a_segment_that_saved_only_samples_has_no_last_step(tmp_path):
    run = tmp_path / "run"
    seg = run / "resume-from-step00000002"
    (seg / "sample").mkdir(parents=True)
    (seg / "sample" / f"{NAME}_000000_00_20261125120000_42.png").write_bytes(b"png")
    assert adopt(seg, run, NAME, total=8).last_step is None


def test_files_named_after_the_sample_folder_are_adopted_too(tmp_path):
    """Names sort: an output name after "sample" puts its files behind the folder."""
    run = tmp_path / "run"
    seg = run / "resume-from-step00000002"
    (seg / "sample").mkdir(parents=True)
    lora(seg / "zebra-step00000002.safetensors", {"ss_steps": "2"})
    assert adopt(seg, run, "zebra", total=8).last_step == 4
    assert (run / "zebra-step00000004.safetensors").is_file()


def test_a_lora_that_is_neither_a_step_save_nor_the_final_one_moves_unmarked(tmp_path):
    run = tmp_path / "run"
    seg = run / "resume-from-step00000002"
    lora(seg / "other_run-step00000002.safetensors", {"ss_steps": "2"})
    result = adopt(seg, run, NAME, total=8)
    assert read_header(run / "other_run-step00000002.safetensors").metadata == {"ss_steps": "2"}
    assert result.moved == [("other_run-step00000002.safetensors", "other_run-step00000002.safetensors")]
    assert result.last_step is None


def test_pending_segments_are_adopted_oldest_first_with_the_run_s_length(tmp_path):
    run = tmp_path / "run"
    state(run / "resume-from-step00000004" / f"{NAME}-step00000002-state", {"current_step": 2})
    state(run / "resume-from-step00000002" / f"{NAME}-step00000002-state", {"current_step": 2})
    adoptions = adopt_pending(run, NAME, total=8)
    assert [(a.offset, a.last_step) for a in adoptions] == [(2, 4), (4, 6)]
    record = json.loads((run / f"{NAME}-step00000006-state" / "train_state.json").read_text())
    assert record["ascii_lora_max_train_steps"] == 8


def launched(run: Path, offset: int) -> Segment:
    """The segment a launch at ``offset`` of an 8-step run trains (resumed from the state at it)."""
    if not offset:
        return Segment(0, 8, run, None)
    return Segment(offset, 8, run / f"resume-from-step{offset:08d}", run / f"{NAME}-step{offset:08d}-state")


def test_closing_a_resumed_segment_completes_the_entry_its_launch_recorded(tmp_path):
    run = tmp_path / "run"
    seg = launched(run, 2)
    entry = {"offset": 2, "max_train_steps": 8, "note": "written by the launch"}
    first = {"offset": 0, "exit_code": 130, "last_saved_step": 2}
    state(seg.output_dir / f"{NAME}-step00000002-state", {"current_step": 2})
    (seg.output_dir / "sample").mkdir()
    (seg.output_dir / "sample" / f"{NAME}_000002_00_20261125120000_42.png").write_bytes(b"png")
    lora(run / f"{NAME}-step00000004.safetensors", {"ss_steps": "4"})  # already there: kept back
    lora(seg.output_dir / f"{NAME}-step00000002.safetensors", {"ss_steps": "2"})
    (run / "run.json").write_text(json.dumps({"launcher_pid": 7, "segments": [first, entry]}))
    adoption = close_segment(run, NAME, seg, 0)
    record = json.loads((run / "run.json").read_text())
    assert record == {
        "launcher_pid": 7,
        "segments": [
            first,
            {
                **entry,
                "exit_code": 0,
                "last_saved_step": 4,
                "renamed": 2,
                "kept_in_segment_folder": [f"{NAME}-step00000002.safetensors"],
            },
        ],
    }
    assert adoption is not None and adoption.kept == [f"{NAME}-step00000002.safetensors"]


def test_closing_a_segment_whose_launch_left_no_record_writes_its_entry(tmp_path):
    run = tmp_path / "run"
    seg = launched(run, 2)
    state(seg.output_dir / f"{NAME}-step00000002-state", {"current_step": 2})
    close_segment(run, NAME, seg, 130)
    assert json.loads((run / "run.json").read_text())["segments"] == [
        {
            "offset": 2,
            "max_train_steps": 8,
            "trainer_max_train_steps": 6,
            "resume_from": str(run / f"{NAME}-step00000002-state"),
            "output_dir": str(seg.output_dir),
            "exit_code": 130,
            "last_saved_step": 4,
            "renamed": 1,
            "kept_in_segment_folder": [],
        }
    ]


def test_a_first_segment_s_last_saved_step_is_its_newest_state_or_none(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert close_segment(run, NAME, launched(run, 0), 1) is None
    assert json.loads((run / "run.json").read_text())["segments"] == [
        {
            "offset": 0,
            "max_train_steps": 8,
            "trainer_max_train_steps": 8,
            "resume_from": None,
            "output_dir": str(run),
            "exit_code": 1,
            "last_saved_step": None,
        }
    ]
    state(run / f"{NAME}-step00000002-state", {"current_step": 2})
    state(run / f"{NAME}-step00000004-state", {"current_step": 4})
    (run / "run.json").unlink()
    close_segment(run, NAME, launched(run, 0), 130)
    [entry] = json.loads((run / "run.json").read_text())["segments"]
    assert (entry["exit_code"], entry["last_saved_step"]) == (130, 4)


def test_a_run_record_that_is_no_json_object_holds_no_history(tmp_path):
    (tmp_path / "run.json").write_text("[1, 2]")
    assert [s["offset"] for s in segments_with(tmp_path, launched(tmp_path, 2))] == [2]


def test_a_launch_again_from_the_same_state_replaces_the_entry_of_the_one_before(tmp_path):
    """Resumed from step 2 twice (the first try crashed): the run's history is the launch at 0 and
    the newest launch at 2, not both tries."""
    (tmp_path / "run.json").write_text(
        json.dumps({"segments": [{"offset": 0}, {"offset": 2, "exit_code": 1}]})
    )
    history = segments_with(tmp_path, launched(tmp_path, 2))
    assert [(s["offset"], s.get("exit_code")) for s in history] == [(0, None), (2, None)]
