"""Where a run lives and which segment a launch trains, rule by rule on folders built by hand.

tests/test_resume.py drives whole interrupted runs; these pin runs.py's answers one at a time,
each expected value worked out from the rule it states (a state's step is what its own
train_state.json records, never its name).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ascii_lora.errors import UserError
from ascii_lora.train.runs import (
    FinishedRun,
    Segment,
    incomplete_states,
    latest_state,
    next_segment,
    refuse_run_in_dataset,
    resolve_path,
    saved_states,
)

NAME = "flux_ascii_structure_v1"


def state(run: Path, name: str, step: int) -> Path:
    d = run / name
    d.mkdir(parents=True)
    (d / "train_state.json").write_text(json.dumps({"current_epoch": 1, "current_step": step}))
    (d / "random_states_0.pkl").write_bytes(b"rng")  # a complete save: accelerate writes it last
    return d


def test_a_resume_with_nothing_saved_is_a_fresh_first_segment(tmp_path):
    assert latest_state(tmp_path, NAME) is None
    assert next_segment(tmp_path, NAME, 3000, resume=True) == Segment(0, 3000, tmp_path, None)
    assert next_segment(tmp_path / "absent", NAME, 3000, resume=True) == Segment(
        0, 3000, tmp_path / "absent", None
    )


def test_a_finished_run_is_refused_with_what_to_raise_or_to_do_instead(tmp_path):
    state(tmp_path, f"{NAME}-step00003000-state", 3000)
    with pytest.raises(FinishedRun) as e:
        next_segment(tmp_path, NAME, 2500, resume=True)
    assert str(e.value) == (
        f"{tmp_path}: nothing to resume: {NAME}-step00003000-state already holds 3000 steps and "
        "[training] max_train_steps = 2500; raise max_train_steps above 3000 to train on from it, "
        "or start a fresh run without RESUME=1"
    )


def test_a_file_named_like_a_state_is_neither_a_state_nor_an_incomplete_one(tmp_path):
    (tmp_path / f"{NAME}-step00000004-state").write_text("a file, not a folder")
    (tmp_path / f"{NAME}-state").write_text("")
    assert saved_states(tmp_path, NAME) == [] and incomplete_states(tmp_path, NAME) == []


def test_a_relative_config_path_is_taken_from_the_checkout_and_a_home_path_from_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    root = tmp_path / "checkout"
    assert resolve_path(root, "models/flux.safetensors") == str(root / "models" / "flux.safetensors")
    assert resolve_path(root, "~/models/flux.safetensors") == str(
        tmp_path / "home" / "models" / "flux.safetensors"
    )


def test_a_run_folder_in_the_dataset_is_refused_saying_why_and_what_to_choose(tmp_path):
    data = tmp_path / "data"
    with pytest.raises(UserError) as e:
        refuse_run_in_dataset(data / "run", data)
    assert str(e.value) == (
        f"the run folder ([training] output_dir or --run-dir) {data / 'run'} is inside the dataset folder "
        f"{data} ([dataset] out): the trainer would write its checkpoints, states and samples among the "
        "training images; choose a run folder outside it"
    )


def test_a_link_folder_over_the_dataset_is_refused_saying_what_to_choose(tmp_path):
    data = tmp_path / "run" / "dataset"
    with pytest.raises(UserError) as e:
        refuse_run_in_dataset(tmp_path / "run", data, data)
    assert str(e.value) == (
        f"the run folder ([training] output_dir or --run-dir) {tmp_path / 'run'}: its link folder {data}, "
        f"which SimpleTuner trains on, would overlap the dataset folder {data} ([dataset] out) and replace "
        "its files with links; choose a run folder whose dataset/ is not the dataset, or move the dataset"
    )
