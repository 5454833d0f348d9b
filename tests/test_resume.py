"""Resume keeps its promise: after any interrupts and resumes, the run directory reads like an uninterrupted run.

sd-scripts restarts its step counter at 0 on --resume (tests/fake_sd_scripts.py copies what the
rehearsal saw the real script do); the project owns the cumulative step. These tests drive
`ascii-lora train` itself, with the real launcher running the fake trainer as a subprocess; only
the machine check (CUDA) is skipped.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from ascii_lora.cli import main
from ascii_lora.config.models import ExperimentConfig
from ascii_lora.train.kohya.plan import build_plan
from ascii_lora.train.runs import FinishedRun, incomplete_states, latest_state, next_segment, saved_states
from ascii_lora.train.safetensors_header import read_header, rewrite_metadata
from ascii_lora.train.segments import adopt

FAKE = Path(__file__).with_name("fake_sd_scripts.py")
NAME = "flux_ascii_structure_v1"
CONFIG = """
[training]
max_train_steps = 8
save_every_n_steps = 2

[sample]
every_n_steps = 2
at_first = true
prompts = ["ascii_structure_style, maze", "ascii_structure_style, cave"]
"""


@pytest.fixture
def trainer(tmp_path, monkeypatch):
    """`ascii-lora train` whose pre-flight passes and whose trainer is the fake sd-scripts."""
    import ascii_lora.train.launcher as launcher
    import ascii_lora.train.preflight as preflight

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESUME", raising=False)
    cfg = tmp_path / "exp.toml"
    cfg.write_text(CONFIG)
    monkeypatch.setattr(preflight, "run_preflight", lambda *a, **k: [])

    def to_fake(argv):
        script = next(i for i, a in enumerate(argv) if a.endswith("flux_train_network.py"))
        return [sys.executable, str(FAKE), *argv[script + 1 :]]

    monkeypatch.setattr(launcher, "resolve_launcher", to_fake)
    clock = iter(range(0, 10_000, 100))

    def train(run: str, interrupt_at: int = 0, resume: bool = False) -> int:
        monkeypatch.setenv("FAKE_SD_INTERRUPT_AT", str(interrupt_at))
        monkeypatch.setenv("FAKE_SD_CLOCK", str(next(clock)))  # later launches draw later timestamps
        return main(["train", "--config", str(cfg), "--run-dir", run, *(["--resume"] if resume else [])])

    return train


def outputs(run: Path) -> list[str]:
    """Every checkpoint, state and sample name, sample timestamps blanked (they differ run to run)."""
    names = [p.name for p in run.glob(f"{NAME}*")] + [
        f"sample/{p.name}" for p in (run / "sample").glob("*.png")
    ]
    return sorted(re.sub(r"_\d{14}_", "_STAMP_", n) for n in names)


def meta(path: Path) -> dict[str, str]:
    return read_header(path).metadata


def test_interrupted_twice_then_finished_reads_like_an_uninterrupted_run(trainer, tmp_path):
    assert trainer("straight") == 0
    assert trainer("broken", interrupt_at=3) == 130  # first state at step 2, step 3 lost
    assert trainer("broken", interrupt_at=3, resume=True) == 130  # resumed at 2: saves local 2 = step 4
    assert trainer("broken", resume=True) == 0  # resumed at 4: the 4 steps left
    straight, broken = tmp_path / "straight", tmp_path / "broken"

    assert outputs(broken) == outputs(straight)
    assert [p.name for p in broken.iterdir() if p.name.startswith("resume-from-step")] == []
    # nothing overwritten: each step file is the one its segment wrote
    written_by = {
        int(p.name[len(NAME) + 5 : len(NAME) + 13]): meta(p)["fake_written_by"]
        for p in broken.glob(f"{NAME}-step*.safetensors")
    }
    assert written_by == {
        2: "broken",
        4: "resume-from-step00000002",
        6: "resume-from-step00000004",
        8: "resume-from-step00000004",
    }
    # the numbers inside match the names: LoRA metadata and each state's own train_state.json
    for p in broken.glob(f"{NAME}-step*.safetensors"):
        assert meta(p)["ss_steps"] == str(int(p.name[len(NAME) + 5 : len(NAME) + 13]))
    assert meta(broken / f"{NAME}.safetensors")["ss_steps"] == "8"
    assert meta(broken / f"{NAME}.safetensors")["ss_max_train_steps"] == "8"
    for d in broken.glob(f"{NAME}-*state"):
        step = json.loads((d / "train_state.json").read_text())["current_step"]
        assert step == (8 if d.name == f"{NAME}-state" else int(d.name[len(NAME) + 5 : len(NAME) + 13]))
    # the base-model baseline was drawn once, by the fresh run, never with a resumed LoRA
    firsts = sorted(p.read_text() for p in (broken / "sample").glob("*_e000000_*"))
    assert firsts == ["broken", "broken"]

    segments = json.loads((broken / "run.json").read_text())["segments"]
    assert [s["offset"] for s in segments] == [0, 2, 4]
    assert [s["trainer_max_train_steps"] for s in segments] == [8, 6, 4]
    assert [s["exit_code"] for s in segments] == [130, 130, 0]
    assert [s["last_saved_step"] for s in segments] == [2, 4, 8]
    kept = sum(s["last_saved_step"] - s["offset"] for s in segments)
    assert kept == 8  # optimizer steps that count = max_train_steps, none trained twice into the result


def test_resume_of_a_finished_run_is_refused_before_the_trainer_starts(trainer, tmp_path, capsys):
    assert trainer("done") == 0
    capsys.readouterr()
    assert trainer("done", resume=True) == 2
    err = capsys.readouterr().err
    assert "max_train_steps" in err and "above 8" in err and "Traceback" not in err
    assert len(json.loads((tmp_path / "done" / "run.json").read_text())["segments"]) == 1  # no launch


def test_resumed_argv_trains_what_is_left_into_its_own_folder(tmp_path):
    run = tmp_path / "run"
    (run / f"{NAME}-step00000500-state").mkdir(parents=True)
    (run / f"{NAME}-step00000500-state" / "train_state.json").write_text(
        '{"current_epoch": 2, "current_step": 500}'
    )
    (run / f"{NAME}-step00000500-state" / "random_states_0.pkl").write_bytes(b"rng")
    cfg = ExperimentConfig.model_validate(
        {"sample": {"at_first": True}, "training": {"max_train_steps": 3000}}
    )
    fresh = build_plan(cfg, tmp_path, run_dir=run).argv
    resumed = build_plan(cfg, tmp_path, run_dir=run, resume=True).argv
    val = lambda argv, f: argv[argv.index(f) + 1]  # noqa: E731
    assert (
        val(fresh, "--max_train_steps") == "3000"
        and "--sample_at_first" in fresh
        and "--initial_step" not in fresh
    )
    assert val(fresh, "--output_dir") == str(run)
    assert val(resumed, "--max_train_steps") == "2500" and val(resumed, "--initial_step") == "0"
    assert val(resumed, "--output_dir") == str(run / "resume-from-step00000500")
    assert val(resumed, "--resume") == str(run / f"{NAME}-step00000500-state")
    assert "--sample_at_first" not in resumed


def test_a_decaying_schedule_is_not_resumed_with_the_wrong_length(tmp_path):
    run = tmp_path / "run"
    state(run, f"{NAME}-step00000500-state", 500)
    cfg = ExperimentConfig.model_validate({"optimizer": {"scheduler": "cosine"}})
    build_plan(cfg, tmp_path, run_dir=run)  # a fresh cosine run is fine
    with pytest.raises(Exception, match="constant_with_warmup"):
        build_plan(cfg, tmp_path, run_dir=run, resume=True)


def state(run: Path, name: str, step: int | None) -> Path:
    d = run / name
    d.mkdir(parents=True)
    if step is not None:
        (d / "train_state.json").write_text(json.dumps({"current_epoch": 1, "current_step": step}))
        (d / "random_states_0.pkl").write_bytes(b"rng")  # a complete save: accelerate writes it last
    return d


def test_latest_state_is_chosen_by_the_step_it_recorded_not_by_its_name(tmp_path):
    # a run resumed before segments existed: the resumed run's final -state holds its own count (4),
    # a later resume saved step 6; the final state is not the newest
    state(tmp_path, f"{NAME}-state", 4)
    state(tmp_path, f"{NAME}-step00000006-state", 6)
    state(tmp_path, f"{NAME}-step00000002-state", 2)
    assert latest_state(tmp_path, NAME).name == f"{NAME}-step00000006-state"
    assert [s.step for s in saved_states(tmp_path, NAME)] == [2, 4, 6]


def test_final_state_wins_a_tie_and_a_folder_without_its_record_is_no_state(tmp_path):
    state(tmp_path, f"{NAME}-step00000008-state", 8)
    state(tmp_path, f"{NAME}-state", 8)
    state(
        tmp_path, f"{NAME}-step00000010-state", None
    )  # named like a newer state, but sd-scripts wrote no record
    state(tmp_path, "other_run-step00000099-state", 99)
    assert latest_state(tmp_path, NAME).name == f"{NAME}-state"
    assert [(d.name, "no train_state.json" in why) for d, why in incomplete_states(tmp_path, NAME)] == [
        (f"{NAME}-step00000010-state", True)
    ]


def test_next_segment_refuses_a_finished_run_naming_what_to_raise(tmp_path):
    state(tmp_path, f"{NAME}-state", 3000)
    with pytest.raises(FinishedRun, match="raise max_train_steps above 3000"):
        next_segment(tmp_path, NAME, 3000, resume=True)
    assert next_segment(tmp_path, NAME, 3500, resume=True).steps == 500
    assert next_segment(tmp_path, NAME, 3000, resume=False).offset == 0


def lora(path: Path, steps: int, tag: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {
            "a.alpha": np.array([32.0], dtype=np.float32),
            "a.lora_down.weight": np.arange(6, dtype=np.float16).reshape(2, 3),
        },
        str(path),
        metadata={"ss_steps": str(steps), "tag": tag},
    )


def test_adoption_never_overwrites_and_is_safe_to_run_twice(tmp_path):
    run = tmp_path / "run"
    seg = run / "resume-from-step00000002"
    lora(run / f"{NAME}-step00000004.safetensors", 4, "already there")
    state(run, f"{NAME}-step00000006-state", 6)
    lora(seg / f"{NAME}-step00000002.safetensors", 2, "segment")  # -> step 4: taken
    state(seg, f"{NAME}-step00000004-state", 4)  # -> step 6: taken
    result = adopt(seg, run, NAME, total=8)
    assert meta(run / f"{NAME}-step00000004.safetensors")["tag"] == "already there"
    assert (
        sorted(result.kept) == [f"{NAME}-step00000002.safetensors", f"{NAME}-step00000004-state"]
        and seg.is_dir()
    )
    # the kept files were marked once; adopting again (after the user moved the blockers) adds 2 nowhere twice
    (run / f"{NAME}-step00000004.safetensors").unlink()
    import shutil

    shutil.rmtree(run / f"{NAME}-step00000006-state")
    adopt(seg, run, NAME, total=8)
    assert meta(run / f"{NAME}-step00000004.safetensors")["ss_steps"] == "4"
    assert (
        json.loads((run / f"{NAME}-step00000006-state" / "train_state.json").read_text())["current_step"] == 6
    )
    assert not seg.exists()


def test_a_segment_left_by_a_killed_launcher_is_adopted_before_the_next_plan(trainer, tmp_path):
    assert trainer("r", interrupt_at=3) == 130
    seg = tmp_path / "r" / "resume-from-step00000002"
    lora(seg / f"{NAME}-step00000002.safetensors", 2, "orphan")
    state(seg, f"{NAME}-step00000002-state", 2)
    assert (
        main(["train", "--config", str(tmp_path / "exp.toml"), "--run-dir", "r", "--dry-run", "--resume"])
        == 0
    )
    assert meta(tmp_path / "r" / f"{NAME}-step00000004.safetensors")["tag"] == "orphan"
    args = json.loads((tmp_path / "r" / "train.args.json").read_text())
    assert args[args.index("--resume") + 1].endswith(f"{NAME}-step00000004-state")


def test_rewriting_metadata_keeps_every_tensor_byte(tmp_path):
    p = tmp_path / "l.safetensors"
    lora(p, 2, "x")
    before = load_file(str(p))
    data_before = p.read_bytes()[read_header(p).data_start :]
    rewrite_metadata(p, {"ss_steps": "12", "new": "yes"})
    h = read_header(p)
    assert h.metadata == {"ss_steps": "12", "tag": "x", "new": "yes"}
    assert p.read_bytes()[h.data_start :] == data_before and h.data_start % 8 == 0
    after = load_file(str(p))
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_resumed_argv_is_one_sd_scripts_parser_accepts(tmp_path):
    from .kohya_facts import KohyaFacts

    facts = KohyaFacts(Path(__file__).parent / "fixtures" / "sd_scripts_facts.json")
    run = tmp_path / "run"
    state(run, f"{NAME}-step00000500-state", 500)
    plan = build_plan(ExperimentConfig(), tmp_path, run_dir=run, resume=True)
    parsed = facts.parse(plan.trainer_args)
    assert (
        parsed["initial_step"] == "0"
        and parsed["max_train_steps"] == "2500"
        and parsed["resume"].endswith("-state")
    )


def test_a_half_written_state_is_never_resumed_from(tmp_path):
    # Ctrl-C during accelerator.save_state: sd-scripts' hook wrote train_state.json, accelerate never
    # reached its random states (it writes them last); resuming would fail after the models load
    state(tmp_path, f"{NAME}-step00000004-state", 4)
    cut = state(tmp_path, f"{NAME}-step00000006-state", 6)
    (cut / "random_states_0.pkl").unlink()
    assert latest_state(tmp_path, NAME).name == f"{NAME}-step00000004-state"
    assert [d for d, _ in incomplete_states(tmp_path, NAME)] == [cut]
    seg = next_segment(tmp_path, NAME, 8, resume=True)
    assert seg.offset == 4 and seg.resume_from == tmp_path / f"{NAME}-step00000004-state"


def test_resume_names_the_half_written_state_it_passes_over(trainer, tmp_path, capsys):
    assert trainer("r", interrupt_at=5) == 130  # states at 2 and 4 saved
    cut = state(tmp_path / "r", f"{NAME}-step00000006-state", 6)
    (cut / "random_states_0.pkl").unlink()
    capsys.readouterr()
    assert (
        main(["train", "--config", str(tmp_path / "exp.toml"), "--run-dir", "r", "--dry-run", "--resume"])
        == 0
    )
    err = capsys.readouterr().err
    assert f"{NAME}-step00000006-state: its save was cut short" in err and "not resumed from" in err
    args = json.loads((tmp_path / "r" / "train.args.json").read_text())
    assert args[args.index("--resume") + 1].endswith(f"{NAME}-step00000004-state")
