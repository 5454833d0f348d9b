"""The rehearsal's CPU-free parts: what it overrides, how it launches, what it says is missing.

The rehearsal itself (`make rehearse`) needs torch and vendor/sd-scripts and is not part of
`make test`; these pin down the pieces that decide what it runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from ascii_lora.cli import main
from ascii_lora.config.models import ExperimentConfig
from ascii_lora.rehearse import standins as st
from ascii_lora.rehearse import train_env
from ascii_lora.rehearse.run import REHEARSAL, expected_outputs, rehearsal_argv, rehearsal_config
from ascii_lora.train.kohya.plan import build_plan

USER = {
    "network": {"dim": 16, "alpha": 8},
    "optimizer": {"learning_rate": 1e-4},
    "hardware": {"vram_profile": "16gb"},
    "training": {"max_train_steps": 5000, "output_name": "mine"},
    "sample": {"prompts": ["ascii_structure_style, a"]},
}


def test_only_what_a_cpu_needs_is_overridden(tmp_path):
    user = ExperimentConfig.model_validate(USER)
    r = rehearsal_config(user, tmp_path, st.paths(tmp_path / "cache"))
    mine, theirs = user.model_dump(mode="json"), r.model_dump(mode="json")
    changed = {(t, k) for t in mine for k in mine[t] if mine[t][k] != theirs[t][k]}
    allowed = {(t, k) for t, vals in REHEARSAL.items() for k in vals} | {
        ("dataset", "out"),
        ("training", "output_dir"),
    }
    allowed |= {("model", k) for k in ("flux", "clip_l", "t5xxl", "ae", "tokenizer_cache_dir")}
    assert changed <= allowed
    assert (r.network.dim, r.optimizer.learning_rate, r.hardware.vram_profile, r.training.output_name) == (
        16,
        1e-4,
        "16gb",
        "mine",
    )
    assert (r.training.max_train_steps, r.training.side, r.dataset.resolution, r.sample.width) == (
        8,
        384,
        384,
        256,
    )
    assert r.model.flux.startswith(str(tmp_path / "cache")) and "models/" not in r.model.flux


def test_a_float32_rehearsal_draws_in_float32_too(tmp_path, monkeypatch):
    """verify and generate read [verify] precision: bf16 drawing crawls wherever bf16 training did."""
    from ascii_lora.rehearse.precision import FP32

    monkeypatch.delenv(FP32, raising=False)
    user = ExperimentConfig.model_validate(USER)
    assert rehearsal_config(user, tmp_path, st.paths(tmp_path / "cache")).verify.precision == "bf16"
    monkeypatch.setenv(FP32, "1")
    assert rehearsal_config(user, tmp_path, st.paths(tmp_path / "cache")).verify.precision == "fp32"


def test_plan_keeps_the_profiles_fp8_but_swaps_no_blocks_of_a_two_block_stand_in(tmp_path):
    r = rehearsal_config(ExperimentConfig.model_validate(USER), tmp_path, st.paths(tmp_path / "cache"))
    argv = build_plan(r, tmp_path).argv
    assert "--fp8_base" in argv and "--blocks_to_swap" not in argv
    assert argv[argv.index("--max_train_steps") + 1] == "8" and "--sample_at_first" in argv


def test_uninterrupted_outputs_are_counted_from_the_schedule():
    r = ExperimentConfig.model_validate(
        {
            "training": {"max_train_steps": 8, "save_every_n_steps": 2},
            "sample": {"every_n_steps": 4, "at_first": True},
        }
    )
    assert expected_outputs(r) == {"step_files": [2, 4, 6, 8], "sample_steps": [0, 4, 8]}


def test_the_launcher_wraps_the_real_script_and_nothing_else(tmp_path):
    argv = build_plan(ExperimentConfig(), tmp_path).argv
    wrapped = rehearsal_argv(argv)
    i = wrapped.index("vendor/sd-scripts/flux_train_network.py")
    assert wrapped[i - 1].endswith("rehearse/sd_launcher.py") and Path(wrapped[i - 1]).is_file()
    assert wrapped[: i - 1] + wrapped[i:] == argv


def test_t5_layers_are_counted_from_the_file(tmp_path):
    p = tmp_path / "t5.safetensors"
    save_file(
        {f"encoder.block.{i}.layer.0.SelfAttention.q.weight": np.zeros((1, 1), np.float16) for i in (0, 1)}
        | {"shared.weight": np.zeros((1, 1), np.float16)},
        str(p),
    )
    assert st.t5_layers_in(p) == 2


def test_sd_scripts_requirements_lose_only_their_editable_install(tmp_path):
    req = tmp_path / "vendor" / "sd-scripts" / "requirements.txt"
    req.parent.mkdir(parents=True)
    req.write_text("accelerate==1.6.0\n# a comment\n-e .\nbitsandbytes\n")
    assert train_env.requirements(tmp_path) == "accelerate==1.6.0\n# a comment\nbitsandbytes\n"


def test_rehearse_without_the_submodule_says_what_is_missing_and_installs_nothing(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert main(["rehearse"]) == 2
    err = capsys.readouterr().err
    assert "vendor/sd-scripts" in err and "git submodule update --init" in err and "Traceback" not in err
    assert not (tmp_path / ".venv-train").exists()


def test_stand_in_paths_stay_in_their_cache(tmp_path):
    s = st.paths(tmp_path)
    assert all(Path(v).parent == tmp_path for k, v in s.model_table().items())
    assert s.tokenizer_cache_dir == tmp_path / "tokenizers"


def test_step_times_are_read_from_sd_scripts_progress_bar():
    from ascii_lora.rehearse.profiles import step_times

    # as sd-scripts printed it in a rehearsal (tqdm, \r-separated updates)
    text = (
        "steps:  12%|█▎        | 1/8 [01:09<08:05, 69.35s/it]steps:  12%|█▎        | 1/8 [01:09<08:05, 69.35s/it, avr_loss=2.47]"
        "\rsteps:  25%|██▌       | 2/8 [02:20<07:02, 70.48s/it, avr_loss=2.51]\rsteps: 100%|██████████| 8/8 [1:02:03<00:00, 1.2s/it]"
    )
    assert step_times(text) == {1: 69, 2: 140, 8: 3723}


def test_drawing_is_measured_from_the_workers_events_after_this_call_only():
    from ascii_lora.rehearse.profiles import drawing_row, worker_events

    # a draw.log slice as the worker writes it: sd-scripts' own lines between the events
    log = (
        "# python -u draw_worker.py jobs.json\n"
        '@@ascii-lora {"event": "loaded", "seconds": 41.5, "device": "cuda"}\n'
        "INFO prompt: ascii_structure_style ...\n"
        '@@ascii-lora {"event": "lora", "path": "/r/x.safetensors"}\n'
        '@@ascii-lora {"event": "drawn", "index": 0, "out": "a.png", "seconds": 9.0}\n'
        '@@ascii-lora {"event": "skipped", "index": 1, "out": "b.png"}\n'
        "@@ascii-lora {not json\n"
        '@@ascii-lora {"event": "drawn", "index": 2, "out": "c.png", "seconds": 3.0}\n'
        '@@ascii-lora {"event": "drawn", "index": 3, "out": "d.png", "seconds": 4.0}\n'
        '@@ascii-lora {"event": "done", "peak_allocated_gib": 35.12, "peak_reserved_gib": 36.5}\n'
    )
    events = worker_events(log)
    assert [e["event"] for e in events] == ["loaded", "lora", "drawn", "skipped", "drawn", "drawn", "done"]
    # the first picture (kernels' first launch, first offload) apart; skipped pictures are not timed
    assert drawing_row(events) == {
        "load_s": 41.5,
        "pictures": 3,
        "first_picture_s": 9.0,
        "seconds_per_picture": 3.5,
        "peak_allocated_gib": 35.12,
        "peak_reserved_gib": 36.5,
    }


def test_a_worker_that_drew_one_picture_or_none_reports_no_steady_rate():
    from ascii_lora.rehearse.profiles import drawing_row

    assert drawing_row([{"event": "drawn", "seconds": 2.0}]) == {"pictures": 1, "first_picture_s": 2.0}
    assert drawing_row([{"event": "error", "message": "x"}]) == {"pictures": 0}


def test_the_rehearsal_drives_sd_scripts_even_for_a_simpletuner_experiment(tmp_path):
    user = ExperimentConfig.model_validate({"trainer": {"kind": "simpletuner"}})
    assert rehearsal_config(user, tmp_path, st.paths(tmp_path / "c")).trainer.kind == "kohya"


def _train_env_fingerprint(tmp_path, pyproject: str) -> str:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    return train_env.fingerprint(tmp_path)


def test_train_env_is_rebuilt_for_what_it_installs_and_only_for_that(tmp_path):
    req = tmp_path / "vendor" / "sd-scripts" / "requirements.txt"
    req.parent.mkdir(parents=True)
    req.write_text("accelerate==1.6.0\n")
    base = (
        '[project]\nname = "x"\nversion = "0.1.0"\ndependencies = ["numpy"]\n'
        '[project.optional-dependencies]\ntrain = ["torch"]\ndev = ["pytest"]\n'
    )
    before = _train_env_fingerprint(tmp_path, base)
    assert _train_env_fingerprint(tmp_path, base.replace('"pytest"', '"pytest", "ruff"')) == before
    assert _train_env_fingerprint(tmp_path, base.replace('version = "0.1.0"', 'version = "0.2.0"')) == before
    assert _train_env_fingerprint(tmp_path, base.replace('["numpy"]', '["numpy", "rich"]')) != before
    assert _train_env_fingerprint(tmp_path, base.replace('["torch"]', '["torch", "peft"]')) != before
    interop = base.replace('dev = ["pytest"]', 'dev = ["pytest"]\ninterop = ["peft==0.17.1"]')
    assert (
        _train_env_fingerprint(tmp_path, interop) != before
    )  # the interop phases' peft is installed there too
    (tmp_path / "pyproject.toml").write_text(base)
    req.write_text("accelerate==1.7.0\n")
    assert train_env.fingerprint(tmp_path) != before


def test_the_phases_run_in_table_order_over_one_state_and_a_failure_ends_the_rehearsal(tmp_path):
    """A phase is one function of the state plus one table entry; the first failure stops the rest."""
    import json

    from ascii_lora.rehearse.judging import _expect
    from ascii_lora.rehearse.run import rehearse

    seen, reported = [], []

    def first(s):
        seen.append(("first", s.run_dir, s.pre.training.max_train_steps, s.name))
        s.winner_file, s.s_per_step_1 = "w.safetensors", 61.5
        return "made the first"

    def second(s):
        seen.append(("second", s.winner_file))
        _expect(False, "the second found nothing")

    def third(s):
        seen.append(("third",))
        return "never"

    out = tmp_path / "out"
    result = rehearse(
        ExperimentConfig.model_validate(USER),
        tmp_path,
        out,
        tmp_path / "cache",
        report=reported.append,
        phases=[("one", first), ("two", second), ("three", third)],
    )
    assert seen == [("first", out / "run", 8, "mine"), ("second", "w.safetensors")]
    assert [(p.name, p.ok, p.detail) for p in reported] == [
        ("one", True, "made the first"),
        ("two", False, "the second found nothing"),
    ]
    assert result.ok is False
    summary = json.loads((out / "rehearsal.json").read_text())
    assert [p["name"] for p in summary["phases"]] == ["one", "two"] and summary["ok"] is False
    assert summary["facts"]["seconds_per_step"] == {"s_per_step_1": 61.5, "s_per_step_2": None}
    assert summary["facts"]["overrides"] == REHEARSAL


def test_a_phase_that_crashes_is_reported_with_its_exception_not_raised(tmp_path):
    from ascii_lora.rehearse.run import rehearse

    def broken(s):
        raise KeyError("plan")

    result = rehearse(
        ExperimentConfig.model_validate(USER),
        tmp_path,
        tmp_path / "out",
        tmp_path / "cache",
        phases=[("broken", broken)],
    )
    assert [(p.name, p.ok, p.detail) for p in result.phases] == [("broken", False, "KeyError: 'plan'")]


def test_the_rehearsal_keeps_its_phases_and_their_labels():
    """The OK/FAIL lines and rehearsal.json name these phases; other tools read them."""
    from ascii_lora.rehearse.phases import PHASES

    assert [n for n, _ in PHASES] == [
        "dataset",
        "stand-in models",
        "plan",
        "pre-flight",
        "train, Ctrl-C after the first state",
        "RESUME=1, `ascii-lora stop`",
        "RESUME=1 to the end",
        "RESUME=1 on the finished run",
        "inspect every LoRA",
        "check the samples",
        "verify: base model + last LoRA",
        "generate from a prompt",
    ]
    assert len({fn for _, fn in PHASES}) == len(PHASES)
