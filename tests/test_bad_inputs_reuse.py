"""Work that must never be silently reused: a resume's history, verify's records and file selection,
SimpleTuner's plan arithmetic. Each case is a mistake that once went unnoticed."""

from __future__ import annotations

import json
from pathlib import Path

from ascii_lora.train.runs import Segment
from ascii_lora.train.segments import segments_with


def test_a_resume_keeps_only_the_launches_before_the_state_it_resumes_from(tmp_path):
    # run.json holds a superseded history: launches at 0, 1000 and 1500; their newer states were deleted
    # and the run resumes from step 500, so the launches at 1000 and 1500 are not this run's past
    earlier = [{"offset": 0, "exit_code": 130}, {"offset": 1000}, {"offset": 1500}, "junk", {"offset": True}]
    (tmp_path / "run.json").write_text(json.dumps({"segments": earlier}))
    seg = Segment(500, 3000, tmp_path / "resume-from-step00000500", tmp_path / "x-step00000500-state")
    assert [s["offset"] for s in segments_with(tmp_path, seg)] == [0, 500]


def test_a_fresh_launch_has_no_history_and_a_broken_record_is_none(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"segments": [{"offset": 0}]}))
    assert [s["offset"] for s in segments_with(tmp_path, Segment(0, 10, tmp_path, None))] == [0]
    (tmp_path / "run.json").write_text(json.dumps({"segments": "not a list"}))
    seg = Segment(4, 10, tmp_path / "resume-from-step00000004", tmp_path / "x-step00000004-state")
    assert [s["offset"] for s in segments_with(tmp_path, seg)] == [4]
