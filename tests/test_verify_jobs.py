"""Which LoRAs a sweep draws, how its pictures are named, and when a picture counts as drawn."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ascii_lora.config.models import ExperimentConfig, SampleConfig, VerificationPrompt
from ascii_lora.errors import UserError
from ascii_lora.verify.jobs import (
    Checkpoint,
    Settings,
    base_identity,
    build_jobs,
    check_path,
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


# -- the selection's edges and messages, the worker's spec, the identities a record compares -------


def test_empty_tokens_are_skipped_not_the_end_of_the_list(run):
    assert [c.step for c in select(run[1], "500,,1000, ,1500", None)] == [500, 1000, 1500]


def test_nothing_to_select_is_refused_with_what_to_give(run):
    with pytest.raises(UserError) as e:
        select(run[1], " , ", None)
    assert str(e.value) == (
        "--checkpoints ' , ' names no checkpoint: give steps like 500,1500, 'final', 'last', 'all' or .safetensors files"
    )


def test_last_and_a_step_on_a_run_without_saves_say_there_is_none(tmp_path):
    with pytest.raises(UserError) as e:
        select([], "last", None)
    assert str(e.value) == "--checkpoints last: the run has no saved LoRA yet"
    with pytest.raises(UserError) as e:
        select([], "500", None)
    assert str(e.value) == "--checkpoints: no LoRA saved at step 500; saved steps: none"


def test_final_without_a_final_file_or_one_that_is_no_checkpoint_offered_is_refused(run):
    run_dir, found = run
    message = (
        "--checkpoints final: the run has no final LoRA yet (training has not finished); "
        "saved steps: 500, 1000, 1500"
    )
    for final_file in (None, run_dir / "absent.safetensors", run_dir / f"{NAME}.safetensors"):
        with pytest.raises(UserError) as e:
            select(found[:3], "final", final_file)  # the final save (step 2000) is not among them
        assert str(e.value) == message


def test_a_step_is_a_number_of_at_most_12_digits_leading_zeros_included(run):
    assert [c.step for c in select(run[1], "000000000500", None)] == [500]  # 12 digits
    with pytest.raises(UserError, match="no LoRA saved at step 0000000000500;"):
        select(run[1], "0000000000500", None)  # 13: never converted


def test_a_long_step_token_is_shown_whole_up_to_20_digits_then_cut_to_12(run):
    twenty = "12345678901234567890"
    with pytest.raises(UserError) as e:
        select(run[1], twenty, None)
    assert f"no LoRA saved at step {twenty};" in str(e.value)
    longer = "123456789012345678901"
    with pytest.raises(UserError) as e:
        select(run[1], longer, None)
    assert "no LoRA saved at step 123456789012... (21 digits);" in str(e.value)


def test_a_lora_file_of_the_run_is_selected_as_its_checkpoint(run):
    run_dir, found = run
    picked = select(found, str(run_dir / f"{NAME}-step00001000.safetensors"), None)
    assert picked == [found[1]] and picked[0].key == "step00001000"


def test_a_foreign_lora_file_is_named_after_its_stem_and_keeps_its_recorded_step(tmp_path):
    other = fake_lora(tmp_path / "My LoRA (v2).safetensors", MODULES, 4, 2.0, {"ss_steps": "300"})
    [picked] = select([], str(other), None)
    assert (picked.key, picked.step, picked.path) == ("My_LoRA__v2_", 300, other)


def test_an_empty_prompt_is_the_trigger_word_alone():
    assert with_trigger("   ") == ("ascii_structure_style", True)


def test_settings_come_from_sample_unless_verify_sets_steps_or_guidance():
    tables = {"sample": {"width": 768, "height": 512, "steps": 24, "guidance": 4.0}}
    cfg = ExperimentConfig.model_validate(tables)
    assert Settings.from_config(cfg, "bf16") == Settings(768, 512, 24, 4.0, 1.0, "bf16")
    cfg = ExperimentConfig.model_validate(
        {**tables, "verify": {"steps": 30, "guidance": 2.5, "multiplier": 0.8}}
    )
    assert Settings.from_config(cfg, "fp8") == Settings(768, 512, 30, 2.5, 0.8, "fp8")


def test_the_spec_tells_the_worker_every_setting_of_its_picture(run, tmp_path):
    ck = run[1][0]
    settings = Settings(768, 512, 28, 4.5, 0.75, "bf16")
    job = build_jobs([ck], ["a"], [7], settings, tmp_path / "v", {"flux": "f", "size": 1})[0]
    assert job.spec(settings) == {
        "out": str(tmp_path / "v" / "step00000500" / "p00_s0007.png"),
        "record": job.record,
        "prompt": "a",
        "seed": 7,
        "width": 768,
        "height": 512,
        "steps": 28,
        "guidance": 4.5,
        "lora": str(ck.path),
        "multiplier": 0.75,
    }


def test_a_lora_is_identified_by_name_size_and_either_its_hash_or_its_time(tmp_path):
    settings = Settings(1024, 1024, 20, 3.5, 1.0, "fp8")
    plain = fake_lora(tmp_path / "plain.safetensors", MODULES, 4, 2.0)
    hashed = fake_lora(tmp_path / "hashed.safetensors", MODULES, 4, 2.0, {"sshs_model_hash": "abc123"})
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    assert make_record("a", 1, settings, plain, {})["lora"] == {
        "name": "plain.safetensors",
        "size": plain.stat().st_size,
        "mtime_ns": plain.stat().st_mtime_ns,
    }
    assert make_record("a", 1, settings, hashed, {})["lora"] == {
        "name": "hashed.safetensors",
        "size": hashed.stat().st_size,
        "sshs_model_hash": "abc123",
    }
    assert make_record("a", 1, settings, broken, {})["lora"] == {
        "name": "broken.safetensors",
        "size": 22,
        "mtime_ns": broken.stat().st_mtime_ns,
    }


def test_the_base_model_is_its_file_name_and_size_relative_to_the_checkout(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "flux.safetensors").write_bytes(b"x" * 10)
    cfg = ExperimentConfig.model_validate({"model": {"flux": "models/flux.safetensors"}})
    assert base_identity(cfg, tmp_path) == {"flux": "flux.safetensors", "size": 10}
    assert base_identity(cfg, tmp_path / "elsewhere") == {"flux": "flux.safetensors", "size": None}
    absolute = ExperimentConfig.model_validate(
        {"model": {"flux": str(tmp_path / "models" / "flux.safetensors")}}
    )
    assert base_identity(absolute, tmp_path / "elsewhere") == {"flux": "flux.safetensors", "size": 10}


def test_a_picture_s_check_sits_beside_it_under_its_stem():
    assert str(check_path(Path("v/final/p00_s0001.png"))) == "v/final/p00_s0001.check.json"


def test_a_record_names_every_setting_of_its_picture(run, tmp_path):
    ck = run[1][0]
    settings = Settings(768, 512, 28, 4.5, 0.75, "bf16")
    base = {"flux": "flux1-dev.safetensors", "size": 1}
    jobs = build_jobs([ck], ["a", "b"], [7], settings, tmp_path / "v", base)
    assert [(j.prompt_index, j.prompt, j.seed) for j in jobs] == [(0, "a", 7), (1, "b", 7)]
    assert jobs[1].record == {
        "prompt": "b",
        "seed": 7,
        "width": 768,
        "height": 512,
        "steps": 28,
        "guidance": 4.5,
        "precision": "bf16",
        "lora": {
            "name": ck.path.name,
            "size": ck.path.stat().st_size,
            "mtime_ns": ck.path.stat().st_mtime_ns,
        },
        "multiplier": 0.75,
        "base": base,
    }
    baseline = build_jobs([Checkpoint("baseline", 0, None)], ["a"], [7], settings, tmp_path / "v", base)[0]
    assert baseline.record["lora"] is None and baseline.record["multiplier"] is None


def test_saves_of_unknown_step_come_after_every_known_step_by_name(tmp_path):
    make_run(tmp_path, NAME, [500, 1000])
    fake_lora(tmp_path / f"{NAME}-000003.safetensors", MODULES, 4, 2.0)  # no ss_steps recorded
    fake_lora(tmp_path / f"{NAME}-000001.safetensors", MODULES, 4, 2.0)
    fake_lora(tmp_path / f"{NAME}.safetensors", MODULES, 4, 2.0)
    found, _ = discover(tmp_path, NAME)
    assert [(c.key, c.step) for c in found] == [
        ("step00000500", 500),
        ("step00001000", 1000),
        ("epoch000001", None),
        ("epoch000003", None),
        ("final", None),
    ]
