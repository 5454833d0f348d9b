"""Work that must never be silently reused: a resume's history, verify's records and file selection,
SimpleTuner's plan arithmetic. Each case is a mistake that once went unnoticed."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ascii_lora.config.models import ExperimentConfig
from ascii_lora.train.runs import Segment
from ascii_lora.train.segments import segments_with
from ascii_lora.verify.jobs import Checkpoint, Settings, build_jobs, discover, is_drawn, record_path, select

from .fakes import fake_lora
from .verify_helpers import MODULES, make_run


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


# -- verify's resumption records: a picture is reused only when everything that drew it is the same --------------

NAME = "flux_ascii_structure_v1"
BASE = {"flux": "flux1-dev.safetensors", "size": 1}


def _job(ck: Checkpoint, settings: Settings, verify_dir: Path):
    return build_jobs([ck], ["a map"], [3], settings, verify_dir, BASE)[0]


def _draw(job) -> None:
    job.out.parent.mkdir(parents=True, exist_ok=True)
    job.out.write_bytes(b"png")
    record_path(job.out).write_text(json.dumps(job.record))


def _settings(**tables) -> Settings:
    return Settings.from_config(ExperimentConfig.model_validate(tables), "fp8")


def test_a_lora_retrained_in_place_to_the_same_size_is_drawn_again(tmp_path):
    lora = fake_lora(tmp_path / f"{NAME}-step00000500.safetensors", MODULES, 4, 2.0)  # no sshs_model_hash
    ck = Checkpoint("step00000500", 500, lora)
    job = _job(ck, _settings(), tmp_path / "v")
    _draw(job)
    size = lora.stat().st_size
    fake_lora(lora, MODULES, 4, 3.0)  # new weights, same shapes: the same size
    st = lora.stat()
    os.utime(lora, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert lora.stat().st_size == size
    assert not is_drawn(job.out, _job(ck, _settings(), tmp_path / "v").record)


def test_a_changed_multiplier_redraws_lora_pictures_but_not_the_base_models(tmp_path):
    lora = fake_lora(tmp_path / "l.safetensors", MODULES, 4, 2.0)
    one, two = _settings(), _settings(verify={"multiplier": 2.0})
    with_lora = _job(Checkpoint("step00000500", 500, lora), one, tmp_path / "v")
    _draw(with_lora)
    assert not is_drawn(
        with_lora.out, _job(Checkpoint("step00000500", 500, lora), two, tmp_path / "v").record
    )
    base = _job(Checkpoint("baseline", 0, None), one, tmp_path / "v")
    _draw(base)
    assert is_drawn(base.out, _job(Checkpoint("baseline", 0, None), two, tmp_path / "v").record), (
        "the base model draws without the LoRA: its multiplier changes nothing"
    )


def test_verify_guidance_and_steps_override_sample_and_count_in_the_record(tmp_path):
    s = _settings(sample={"guidance": 3.5, "steps": 20}, verify={"guidance": 5.0, "steps": 30})
    assert (s.guidance, s.steps) == (5.0, 30)
    job = _job(Checkpoint("baseline", 0, None), s, tmp_path / "v")
    _draw(job)
    other = _settings(sample={"guidance": 3.5, "steps": 20}, verify={"guidance": 4.0, "steps": 30})
    assert not is_drawn(job.out, _job(Checkpoint("baseline", 0, None), other, tmp_path / "v").record)
    unset = _settings(sample={"guidance": 2.5, "steps": 12})
    assert (unset.guidance, unset.steps) == (2.5, 12)


def test_a_record_whose_picture_is_gone_is_drawn_again(tmp_path):
    job = _job(Checkpoint("baseline", 0, None), _settings(), tmp_path / "v")
    _draw(job)
    assert is_drawn(job.out, job.record)
    job.out.unlink()
    assert not is_drawn(job.out, job.record)


# -- verify's file selection -------------------------------------------------------------------------------------


def test_final_and_last_pick_the_step_save_the_final_file_duplicates(tmp_path):
    make_run(tmp_path, NAME, [500, 1000], final_steps=1000)
    found, _ = discover(tmp_path, NAME)
    final = tmp_path / f"{NAME}.safetensors"
    assert [c.key for c in select(found, "final", final)] == ["step00001000"]
    assert [c.key for c in select(found, "last", final)] == ["step00001000"]
    assert [c.key for c in select(found, "1000,final", final)] == ["step00001000"], "one picture set, not two"


def test_an_epoch_save_sorts_by_its_step_and_a_final_twin_of_it_is_drawn_once(tmp_path):
    make_run(tmp_path, NAME, [500, 1500])
    fake_lora(tmp_path / f"{NAME}-000002.safetensors", MODULES, 4, 2.0, {"ss_steps": "1200"})
    fake_lora(tmp_path / f"{NAME}.safetensors", MODULES, 4, 2.0, {"ss_steps": "1200"})
    found, notes = discover(tmp_path, NAME)
    assert [(c.key, c.step) for c in found] == [
        ("step00000500", 500),
        ("epoch000002", 1200),
        ("step00001500", 1500),
    ]
    assert len(notes) == 1 and "epoch 2" in notes[0]


# -- SimpleTuner's plan arithmetic ------------------------------------------------------------------------------


def _st_plan(tmp_path: Path, **tables):
    from ascii_lora.train.registry import build_trainer_plan

    return build_trainer_plan(
        ExperimentConfig.model_validate({"trainer": {"kind": "simpletuner"}, **tables}),
        tmp_path,
        tmp_path / "run",
    )


def test_simpletuner_keeps_every_checkpoint_when_the_steps_are_no_multiple_of_the_interval(tmp_path):
    c = _st_plan(tmp_path, training={"max_train_steps": 3100, "save_every_n_steps": 500}).config
    saves = [s for s in range(500, 3100 + 1, 500)] + [
        3100
    ]  # 500 ... 3000, and the last, partial interval's end
    assert (
        c["checkpoints_total_limit"] > len(saves) - 1
        and c["checkpoints_total_limit"] == math.ceil(3100 / 500) + 1
    )


def test_one_prompt_means_no_prompt_library(tmp_path):
    plan = _st_plan(tmp_path, sample={"prompts": ["ascii_structure_style, a dungeon map"]})
    assert "user_prompt_library" not in plan.config and plan.prompt_library == {}
    assert plan.config["validation_prompt"] == "ascii_structure_style, a dungeon map"


def test_one_gpu_is_no_multi_gpu_launch(tmp_path):
    argv = _st_plan(tmp_path).argv
    assert argv[argv.index("--num_processes") + 1] == "1" and "--multi_gpu" not in argv
    several = _st_plan(tmp_path, hardware={"num_gpus": 2}).argv
    assert several[several.index("--num_processes") + 1] == "2" and "--multi_gpu" in several
