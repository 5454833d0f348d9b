"""Which LoRAs a sweep draws, how its pictures are named, and when a picture counts as drawn."""

from __future__ import annotations

import json
import os

import pytest

from ascii_lora.config.models import ExperimentConfig, SampleConfig, VerificationPrompt
from ascii_lora.errors import UserError
from ascii_lora.verify.jobs import (
    Checkpoint,
    Settings,
    build_jobs,
    discover,
    is_drawn,
    make_record,
    record_path,
    select,
    verify_prompts,
    with_trigger,
)

from .fakes import fake_lora
from .verify_helpers import MODULES, make_run

NAME = "flux_ascii_structure_v1"


def test_checkpoints_are_found_by_sd_scripts_names_in_step_order(tmp_path):
    make_run(tmp_path, NAME, [1500, 500, 1000], final_steps=1800)
    (tmp_path / f"{NAME}-step00000500-state").mkdir()  # a resumable state, not a LoRA
    fake_lora(tmp_path / "other-step00000500.safetensors", MODULES, 4, 2.0)  # another run's file
    found, notes = discover(tmp_path, NAME)
    assert [(c.key, c.step) for c in found] == [
        ("step00000500", 500),
        ("step00001000", 1000),
        ("step00001500", 1500),
        ("final", 1800),
    ]
    assert [c.path.name for c in found][-1] == f"{NAME}.safetensors"
    assert notes == []


def test_a_final_file_equal_to_the_last_step_save_is_drawn_once_and_said_so(tmp_path):
    make_run(tmp_path, NAME, [500, 1000], final_steps=1000)
    found, notes = discover(tmp_path, NAME)
    assert [c.key for c in found] == ["step00000500", "step00001000"]
    assert len(notes) == 1 and f"{NAME}.safetensors" in notes[0] and "step 1000" in notes[0]


def test_epoch_saves_take_their_step_from_the_file(tmp_path):
    fake_lora(tmp_path / f"{NAME}-000002.safetensors", MODULES, 4, 2.0, {"ss_steps": "280"})
    found, _ = discover(tmp_path, NAME)
    assert [(c.key, c.step, c.label) for c in found] == [("epoch000002", 280, "epoch 2 (step 280)")]


def test_an_empty_or_missing_run_has_no_checkpoints(tmp_path):
    assert discover(tmp_path / "nope", NAME) == ([], [])


@pytest.fixture
def run(tmp_path):
    make_run(tmp_path, NAME, [500, 1000, 1500], final_steps=2000)
    return tmp_path, discover(tmp_path, NAME)[0]


def test_select_by_steps_final_and_last(run):
    run_dir, found = run
    final = run_dir / f"{NAME}.safetensors"
    assert [c.step for c in select(found, "1000, 500", final)] == [1000, 500]
    assert [c.key for c in select(found, "final", final)] == ["final"]
    assert [c.key for c in select(found, "last", final)] == ["final"]
    assert select(found, None, final) == found and select(found, "all", final) == found
    assert [c.step for c in select(found, "500,500", final)] == [500]


def test_select_accepts_any_lora_file(run, tmp_path):
    other = fake_lora(tmp_path / "mine.safetensors", MODULES, 4, 2.0)
    picked = select(run[1], str(other), None)
    assert picked[0].path == other and picked[0].key == "mine"


@pytest.mark.parametrize(
    "spec,words",
    [
        ("700", ["step 700", "500, 1000, 1500, 2000"]),
        ("banana", ["'banana'", "step number"]),
        ("missing.safetensors", ["missing.safetensors", "does not exist"]),
    ],
)
def test_select_refuses_what_is_not_there_naming_what_is(run, spec, words):
    with pytest.raises(UserError) as e:
        select(run[1], spec, run[0] / f"{NAME}.safetensors")
    for w in words:
        assert w in str(e.value)


def test_final_is_refused_before_training_ends(tmp_path):
    make_run(tmp_path, NAME, [500])
    with pytest.raises(UserError, match="no final LoRA"):
        select(discover(tmp_path, NAME)[0], "final", tmp_path / f"{NAME}.safetensors")


def test_the_verification_prompt_is_always_drawn_and_first_when_added():
    assert verify_prompts(ExperimentConfig())[0] == VerificationPrompt
    cfg = ExperimentConfig(sample=SampleConfig(prompts=["ascii_structure_style, a maze"]))
    assert verify_prompts(cfg) == [VerificationPrompt, "ascii_structure_style, a maze"]
    assert len(verify_prompts(ExperimentConfig())) == len(ExperimentConfig().sample.prompts)


@pytest.mark.parametrize(
    "given,drawn,added",
    [
        ("dungeon map, white on black", "ascii_structure_style, dungeon map, white on black", True),
        ("ascii_structure_style, cave", "ascii_structure_style, cave", False),
        ("a cave in ascii_structure_style", "a cave in ascii_structure_style", False),
        ("  two   spaces ", "ascii_structure_style, two spaces", True),
    ],
)
def test_trigger_word_is_added_only_when_missing(given, drawn, added):
    assert with_trigger(given) == (drawn, added)


SETTINGS = Settings(1024, 1024, 20, 3.5, 1.0, "fp8")


def test_jobs_are_checkpoint_major_and_named_by_prompt_and_seed(run, tmp_path):
    cks = [Checkpoint("baseline", 0, None), *run[1][:2]]
    jobs = build_jobs(cks, ["a", "b"], [0, 1, 2], SETTINGS, tmp_path / "verify", {"flux": "f", "size": 1})
    assert len(jobs) == 3 * 2 * 3
    assert [j.checkpoint.key for j in jobs[:6]] == ["baseline"] * 6
    assert jobs[0].out == tmp_path / "verify" / "baseline" / "p00_s0000.png"
    assert jobs[-1].out == tmp_path / "verify" / "step00001000" / "p01_s0002.png"
    assert len({j.out for j in jobs}) == len(jobs)
    spec = jobs[-1].spec(SETTINGS)
    assert (
        spec["lora"] == str(run[1][1].path)
        and spec["prompt"] == "b"
        and spec["seed"] == 2
        and spec["steps"] == 20
    )
    assert jobs[0].spec(SETTINGS)["lora"] is None


def _drawn(job):
    job.out.parent.mkdir(parents=True, exist_ok=True)
    job.out.write_bytes(b"png")
    record_path(job.out).write_text(json.dumps(job.record))


def test_a_picture_counts_as_drawn_only_with_its_matching_record(run, tmp_path):
    lora = run[1][0].path
    job = build_jobs([run[1][0]], ["a"], [7], SETTINGS, tmp_path / "v", {"flux": "f", "size": 1})[0]
    assert not is_drawn(job.out, job.record)
    job.out.parent.mkdir(parents=True)
    job.out.write_bytes(b"png")
    assert not is_drawn(job.out, job.record), "a PNG without its record may be half a job"
    _drawn(job)
    assert is_drawn(job.out, job.record)
    for changed in (
        make_record("a", 8, SETTINGS, lora, {"flux": "f", "size": 1}),
        make_record("a", 7, Settings(1024, 1024, 28, 3.5, 1.0, "fp8"), lora, {"flux": "f", "size": 1}),
        make_record("a", 7, Settings(1024, 1024, 20, 3.5, 1.0, "bf16"), lora, {"flux": "f", "size": 1}),
        make_record("b", 7, SETTINGS, lora, {"flux": "f", "size": 1}),
        make_record("a", 7, SETTINGS, lora, {"flux": "f", "size": 2}),
    ):
        assert not is_drawn(job.out, changed)


def test_a_replaced_lora_file_makes_its_pictures_pending_again(run, tmp_path):
    ck = run[1][0]
    job = build_jobs([ck], ["a"], [7], SETTINGS, tmp_path / "v", {})[0]
    _drawn(job)
    fake_lora(ck.path, MODULES, 8, 4.0, {"ss_steps": "500"})  # retrained: same name, new weights
    st = ck.path.stat()
    os.utime(ck.path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = build_jobs([ck], ["a"], [7], SETTINGS, tmp_path / "v", {})[0]
    assert not is_drawn(again.out, again.record)


def test_sd_scripts_tensor_hash_identifies_a_lora_over_its_timestamp(tmp_path):
    p = fake_lora(tmp_path / "l.safetensors", MODULES, 4, 2.0, {"sshs_model_hash": "abc123"})
    rec = make_record("a", 1, SETTINGS, p, {})
    os.utime(p, ns=(0, 0))  # copied elsewhere: new times, same weights
    assert make_record("a", 1, SETTINGS, p, {}) == rec
    assert rec["lora"]["sshs_model_hash"] == "abc123"
