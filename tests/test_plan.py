"""`ascii-lora plan` emits exactly what the pinned sd-scripts accepts (proved against its facts)."""

from __future__ import annotations

import json
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

from ascii_lora.cli import main
from ascii_lora.config.loader import load_config
from ascii_lora.config.models import VRAM_PROFILES, ExperimentConfig, VerificationPrompt
from ascii_lora.train.kohya.plan import build_plan
from ascii_lora.train.plan_files import write_plan
from ascii_lora.train.runs import latest_state

from .kohya_facts import KohyaFacts

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted(VRAM_PROFILES)


@pytest.fixture(scope="module")
def facts() -> KohyaFacts:
    return KohyaFacts()


def cfg_for(profile: str = "24gb", gpus: int = 1, **tables) -> ExperimentConfig:
    data = {"hardware": {"vram_profile": profile, "num_gpus": gpus}, **tables}
    return ExperimentConfig.model_validate(data)


def test_facts_and_submodule_are_the_pinned_commit(facts):
    from ascii_lora.train.kohya.plan import SD_SCRIPTS_COMMIT

    assert facts.commit == SD_SCRIPTS_COMMIT
    assert "vendor/sd-scripts" in (ROOT / ".gitmodules").read_text()
    r = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-s", "vendor/sd-scripts"], capture_output=True, text=True
    )
    if r.returncode or not r.stdout:
        pytest.skip("not a git checkout")
    mode, commit, *_ = r.stdout.split()
    assert mode == "160000" and commit == SD_SCRIPTS_COMMIT


# What sd-scripts must be told, written out from the config by hand (not by calling the plan):
# flag dest -> expected value, True for a bare switch, None where the flag must be absent.
# Floats are compared as numbers, everything else as the exact text argparse receives.
def expected_trainer_flags(c: ExperimentConfig, root: Path, run: Path) -> dict[str, object]:
    root = root.resolve()
    t, n, o, s, h = c.training, c.network, c.optimizer, c.sample, c.hardware
    swap = h.blocks_to_swap if h.blocks_to_swap is not None else VRAM_PROFILES[h.vram_profile].blocks_to_swap
    kohya_optimizer = {"adamw8bit": "adamw8bit", "lion": "lion", "adamw": "adamw", "prodigy": "prodigy"}
    return {
        "pretrained_model_name_or_path": str(root / c.model.flux),
        "clip_l": str(root / c.model.clip_l),
        "t5xxl": str(root / c.model.t5xxl),
        "ae": str(root / c.model.ae),
        "tokenizer_cache_dir": str(root / c.model.tokenizer_cache_dir),
        "dataset_config": str(run / "dataset_config.toml"),
        "output_dir": str(run),
        "output_name": t.output_name,
        "save_model_as": "safetensors",
        "save_precision": t.save_precision,
        "save_every_n_steps": str(t.save_every_n_steps),
        "save_state": True,  # resumable runs
        "network_module": "networks.lora_flux",
        "network_dim": str(n.dim),
        "network_alpha": float(n.alpha),  # sd-scripts' default is 1, so it is always given
        "network_train_unet_only": True if n.train_unet_only else None,
        "network_dropout": n.dropout,
        "network_args": n.args or None,
        "optimizer_type": kohya_optimizer[o.type.lower()],  # sd-scripts lower-cases before matching
        "learning_rate": o.learning_rate,
        "lr_scheduler": o.scheduler,
        "max_grad_norm": o.max_grad_norm,
        "lr_warmup_steps": str(o.warmup_steps) if o.warmup_steps else None,
        "optimizer_args": o.args or None,
        "max_train_steps": str(t.max_train_steps),
        "gradient_accumulation_steps": str(t.gradient_accumulation_steps),
        "mixed_precision": t.mixed_precision,
        "seed": str(t.seed),
        "max_data_loader_n_workers": str(t.max_data_loader_n_workers),
        "persistent_data_loader_workers": True if t.max_data_loader_n_workers > 0 else None,
        "gradient_checkpointing": True if t.gradient_checkpointing else None,
        "cache_latents": True if t.cache_latents_to_disk else None,  # _to_disk alone does not cache
        "cache_latents_to_disk": True if t.cache_latents_to_disk else None,
        "cache_text_encoder_outputs": True if t.cache_text_encoder_outputs else None,
        "cache_text_encoder_outputs_to_disk": True if t.cache_text_encoder_outputs else None,
        "fp8_base": True if VRAM_PROFILES[h.vram_profile].fp8_base else None,
        "blocks_to_swap": str(swap) if swap else None,
        "timestep_sampling": t.timestep_sampling,
        "discrete_flow_shift": t.discrete_flow_shift,
        "model_prediction_type": t.model_prediction_type,
        "guidance_scale": t.guidance_scale,  # sd-scripts' default is 3.5; FLUX.1-dev trains at 1.0
        "sample_prompts": str(run / "sample_prompts.txt"),
        "sample_every_n_steps": str(s.every_n_steps),
        "logging_dir": str(run / "logs"),
        "sample_at_first": True if s.at_first else None,
        "resume": None,
        # validation (docs/watching.md): held out by default, validated at each sampling step, never per epoch
        "validation_seed": str(c.validation.seed) if c.validation.enabled else None,
        "validate_every_n_steps": str(c.validation.every_n_steps or s.every_n_steps)
        if c.validation.enabled
        else None,
        "validate_every_n_epochs": str(t.max_train_steps + 1) if c.validation.enabled else None,
        "max_validation_steps": str(c.validation.max_batches) if c.validation.max_batches else None,
    }


EVERYTHING_CHANGED = {
    # one GPU: block swap with several processes is refused (tests/test_cluster_config.py)
    "hardware": {
        "vram_profile": "12gb",
        "num_gpus": 1,
        "num_cpu_threads_per_process": 4,
        "blocks_to_swap": 20,
    },
    "model": {
        "flux": "weights/f.safetensors",
        "clip_l": "weights/c.safetensors",
        "t5xxl": "weights/t.safetensors",
        "ae": "weights/a.safetensors",
        "tokenizer_cache_dir": "weights/tok",
    },
    "network": {
        "dim": 16,
        "alpha": 8.5,
        "train_unet_only": False,
        "dropout": 0.1,
        "args": ["train_blocks=single"],
    },
    "optimizer": {
        "type": "AdamW8BIT",
        "learning_rate": 1e-4,
        "scheduler": "cosine",
        "warmup_steps": 50,
        "max_grad_norm": 0.5,
        "args": ["weight_decay=0.01", "betas=0.9,0.99"],
    },
    "training": {
        "max_train_steps": 100,
        "mixed_precision": "fp16",
        "save_precision": "float",
        "gradient_accumulation_steps": 2,
        "seed": 7,
        "save_every_n_steps": 50,
        "output_name": "other",
        "gradient_checkpointing": False,
        "cache_latents_to_disk": False,
        "cache_text_encoder_outputs": False,
        "guidance_scale": 2.0,
        "timestep_sampling": "sigmoid",
        "discrete_flow_shift": 2.5,
        "model_prediction_type": "additive",
        "max_data_loader_n_workers": 0,
    },
    "sample": {"every_n_steps": 100, "at_first": True},
}


@pytest.mark.parametrize(
    "tables",
    [{"hardware": {"vram_profile": p}} for p in PROFILES]
    + [EVERYTHING_CHANGED, {"training": {"max_data_loader_n_workers": 1}}],
    ids=[f"defaults-{p}" for p in PROFILES] + ["everything-changed", "one-loader-worker"],
)
def test_every_trainer_flag_carries_its_config_value(facts, tmp_path, tables):
    cfg = ExperimentConfig.model_validate(tables)
    plan = build_plan(cfg, tmp_path)
    parsed = facts.parse(plan.trainer_args)
    expected = expected_trainer_flags(cfg, tmp_path, plan.run_dir)
    assert set(parsed) <= set(expected), f"flags without a row in the table: {set(parsed) - set(expected)}"
    for dest, want in expected.items():
        got = parsed.get(dest)
        if dest == "optimizer_type" and got is not None:
            got = got.lower()  # sd-scripts compares lower-cased names (train_util.get_optimizer)
        if want is None:
            assert got is None, f"--{dest} {got} should not be passed"
        elif isinstance(want, float):
            assert got is not None and float(got) == want, f"--{dest} {got} != {want}"
        else:
            assert got == want, f"--{dest} {got!r} != {want!r}"
    launch = plan.argv[: plan.argv.index(str(plan.script))]
    gpus = cfg.hardware.num_gpus
    want_launch = ["accelerate", "launch"] + (
        ["--multi_gpu", "--num_processes", str(gpus)] if gpus > 1 else []
    )
    want_launch += [
        "--mixed_precision",
        cfg.training.mixed_precision,
        "--num_cpu_threads_per_process",
        str(cfg.hardware.num_cpu_threads_per_process),
    ]
    assert launch == want_launch
    assert str(plan.script) == "vendor/sd-scripts/flux_train_network.py"


def test_dataset_config_passes_the_trainer_schema(facts, tmp_path):
    for profile in PROFILES:
        plan = build_plan(cfg_for(profile), tmp_path)
        data = tomllib.loads(__import__("tomli_w").dumps(plan.dataset_config))
        facts.check_dataset_toml(data)
        ds = data["datasets"][0]
        sub = ds["subsets"][0]
        assert data["general"]["caption_extension"] == ".txt" and sub["caption_extension"] == ".txt"
        assert (
            sub["keep_tokens"] == 1
            and ds["enable_bucket"] is False
            and data["general"]["enable_bucket"] is False
        )
        assert ds["resolution"] == 1024 and ds["batch_size"] == VRAM_PROFILES[profile].batch_size
        assert Path(sub["image_dir"]).is_absolute() and sub["image_dir"].endswith("data/ascii_training_data")
        for table in (data["general"], sub):
            assert (
                table["flip_aug"] is False and table["random_crop"] is False and table["color_aug"] is False
            )


def test_schema_checker_rejects_what_sd_scripts_rejects(facts):
    with pytest.raises(AssertionError, match="not accepted"):
        facts.check_dataset_toml({"datasets": [{"subsets": [{"image_dir": "/x", "bogus": 1}]}]})
    with pytest.raises(AssertionError, match="required image_dir"):
        facts.check_dataset_toml({"datasets": [{"subsets": [{"num_repeats": 1}]}]})
    with pytest.raises(AssertionError, match="is not int"):
        facts.check_dataset_toml({"datasets": [{"resolution": "big", "subsets": [{"image_dir": "/x"}]}]})
    with pytest.raises(AssertionError, match="not a flux_train_network.py flag"):
        facts.parse(["--train_data_dirr", "x"])
    with pytest.raises(AssertionError, match="not in"):
        facts.parse(["--mixed_precision", "fp8"])
    with pytest.raises(ValueError):
        facts.parse(["--network_dim", "sixty-four"])


def test_batch_size_from_config_overrides_profile(tmp_path):
    plan = build_plan(cfg_for("24gb", training={"batch_size": 3}), tmp_path)
    assert plan.dataset_config["datasets"][0]["batch_size"] == 3


def test_sample_prompt_file_is_one_line_per_prompt_with_every_option(tmp_path):
    cfg = ExperimentConfig.model_validate(
        {"sample": {"prompts": [" first prompt ", "second"], "seed": 9, "steps": 28, "guidance": 4.0}}
    )
    assert build_plan(cfg, tmp_path).sample_prompts == (
        "first prompt --w 1024 --h 1024 --d 9 --s 28 --g 4\nsecond --w 1024 --h 1024 --d 9 --s 28 --g 4\n"
    )


def test_caption_dropout_reaches_both_dataset_tables(facts, tmp_path):
    cfg = ExperimentConfig.model_validate(
        {"training": {"caption_dropout_rate": 0.1, "cache_text_encoder_outputs": False}}
    )
    data = build_plan(cfg, tmp_path).dataset_config
    facts.check_dataset_toml(data)
    assert (
        data["general"]["caption_dropout_rate"] == 0.1
        and data["datasets"][0]["subsets"][0]["caption_dropout_rate"] == 0.1
    )
    assert "caption_dropout_rate" not in build_plan(ExperimentConfig(), tmp_path).dataset_config["general"]


def test_sample_prompts_spell_out_size_seed_steps_and_guidance(tmp_path):
    lines = build_plan(ExperimentConfig(), tmp_path).sample_prompts.splitlines()
    assert lines[0].startswith(VerificationPrompt + " --w")
    for line in lines:
        for opt in ("--w 1024", "--h 1024", "--d 1234", "--s 20", "--g 3.5"):
            assert opt in line


def test_constant_scheduler_emits_no_warmup(facts, tmp_path):
    plan = build_plan(cfg_for(optimizer={"scheduler": "constant", "warmup_steps": 0}), tmp_path)
    assert "--lr_warmup_steps" not in plan.argv
    facts.parse(plan.trainer_args)


def test_write_plan_files_and_train_sh_is_the_same_argv(tmp_path):
    plan = build_plan(ExperimentConfig(), tmp_path, run_dir=tmp_path / "run")
    names = sorted(p.name for p in write_plan(plan, tmp_path))
    assert names == [
        "config.resolved.toml",
        "dataset_config.toml",
        "sample_prompts.txt",
        "train.args.json",
        "train.sh",
    ]
    run = tmp_path / "run"
    argv = json.loads((run / "train.args.json").read_text())
    assert argv == plan.argv
    sh = (run / "train.sh").read_text()
    assert subprocess.run(["bash", "-n", str(run / "train.sh")]).returncode == 0
    exec_line = next(line for line in sh.splitlines() if line.startswith("exec "))
    assert shlex.split(exec_line)[1:] == argv
    assert (run / "train.sh").stat().st_mode & 0o100
    assert tomllib.loads((run / "dataset_config.toml").read_text()) == plan.dataset_config


def test_resolved_config_round_trips_with_every_default(tmp_path):
    cfg = cfg_for("16gb", 1, network={"dim": 32})
    text = build_plan(cfg, tmp_path).resolved_toml
    data = tomllib.loads(text)
    assert data["network"]["alpha"] == 32.0 and data["training"]["max_train_steps"] == 3000
    assert ExperimentConfig.model_validate(data) == cfg
    assert text.startswith(
        "# Every setting of this run, defaults filled in (written by `ascii-lora plan`).\n"
        "# Unset (None, so the documented fallback applies): network.dropout, training.batch_size, hardware.blocks_to_swap, "
        "hardware.price_per_hour, cluster.main_process_ip, verify.steps, verify.guidance, validation.images, "
        "validation.every_n_steps, validation.max_batches\n"
    )


def test_the_resolved_config_never_holds_the_webhook_url(tmp_path):
    cfg = ExperimentConfig.model_validate(
        {"notify": {"webhook_url": "https://hooks.example.invalid/T0/secret-token"}}
    )
    plan = build_plan(cfg, tmp_path)
    write_plan(plan, tmp_path)
    assert "# [notify] webhook_url is set and left out here: it is a secret\n" in plan.resolved_toml
    for f in plan.run_dir.iterdir():
        assert "secret-token" not in f.read_text(), f.name
    assert ExperimentConfig.model_validate(tomllib.loads(plan.resolved_toml)).notify.webhook_url is None


def saved_state(folder: Path, step: int) -> None:
    """A state as sd-scripts saves it: its train_state.json first, accelerate's random states last."""
    folder.mkdir(parents=True)
    (folder / "train_state.json").write_text(f'{{"current_epoch": 1, "current_step": {step}}}')
    (folder / "random_states_0.pkl").write_bytes(b"rng")


def test_resume_points_at_the_newest_saved_state(tmp_path):
    run = tmp_path / "run"
    for step in (500, 1500, 1000):
        saved_state(run / f"flux_ascii_structure_v1-step{step:08d}-state", step)
    assert latest_state(run, "flux_ascii_structure_v1").name == "flux_ascii_structure_v1-step00001500-state"
    plan = build_plan(ExperimentConfig(), tmp_path, run_dir=run, resume=True)
    fresh = build_plan(ExperimentConfig(), tmp_path, run_dir=run).argv
    # a resumed segment: the steps left, in a folder of its own (renumbered into the run when it ends),
    # sd-scripts' own step counter from 0, and the newest state
    segment = run / "resume-from-step00001500"
    expected = list(fresh)
    expected[expected.index("--output_dir") + 1] = str(segment)
    expected[expected.index("--max_train_steps") + 1] = "1500"
    expected += [
        "--log_prefix",
        "resume-from-step00001500-",
        "--initial_step",
        "0",
        "--resume",
        str(run / "flux_ascii_structure_v1-step00001500-state"),
    ]
    assert plan.argv == expected
    assert "--resume" not in fresh
    by_config = ExperimentConfig.model_validate({"training": {"resume": True}})
    assert build_plan(by_config, tmp_path, run_dir=run).argv == plan.argv  # [training] resume = true
    assert build_plan(by_config, tmp_path, run_dir=run, resume=False).argv == fresh


def test_resume_env_without_a_saved_state_is_refused_like_the_config_switch(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RESUME", "1")
    config = str(ROOT / "configs" / "flux_ascii.toml")
    # refused before anything runs, dry run included: a printed command without --resume would be a silent fresh run
    assert main(["train", "--dry-run", "--config", config]) == 2
    err = capsys.readouterr().err
    assert (
        "RESUME=1 asks to continue a run" in err and "holds no saved state" in err and "drop RESUME=1" in err
    )
    assert main(["train", "--config", config]) == 2
    assert "holds no saved state" in capsys.readouterr().err


def test_dry_run_prints_exactly_the_written_argv(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dry-run", "--config", str(ROOT / "configs" / "flux_ascii.toml")]) == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    written = json.loads((tmp_path / "runs" / "flux_ascii" / "train.args.json").read_text())
    assert shlex.split(printed) == written


def test_plan_command_writes_into_run_dir(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "--config", str(ROOT / "configs" / "flux_ascii.toml"), "--run-dir", "r1"]) == 0
    assert (tmp_path / "r1" / "dataset_config.toml").exists()


BAD_CONFIGS = [
    ("[training]\nresolution = 1000\n", "[training] resolution: resolution 1000 must be a multiple of 16"),
    ("[training]\nresolution = [1024, 768]\n", "is not square"),
    ("[optimizer]\nlearning_rate = 0\n", "[optimizer] learning_rate: learning_rate must be > 0"),
    ("[optimizer]\nlearning_rate = -1e-4\n", "learning_rate must be > 0"),
    ("[optimizer]\ntype = 'adamw9bit'\n", "unknown optimizer 'adamw9bit'; allowed: adamw, adamw8bit"),
    ("[optimizer]\nscheduler = 'cosine_annealing'\n", "unknown scheduler"),
    ("[optimizer]\nscheduler = 'constant'\nwarmup_steps = 100\n", "takes no warm-up"),
    ("[training]\nflip_aug = true\n", "flip_aug = true mirrors the glyphs"),
    (
        "[training]\nrandom_crop = true\n",
        "[training] random_crop: random_crop = true refused: a random crop moves the 16 px grid",
    ),
    ("[training]\nenable_bucket = true\n", "enable_bucket"),
    ("[training]\ncolor_aug = true\n", "color_aug"),
    ("[training]\nshuffle_caption = true\n", "shuffle_caption needs fresh text encodings"),
    ("[training]\ncaption_dropout_rate = 0.1\n", "caption_dropout_rate > 0 needs"),
    ("[training]\nresolution = 512\n", "differs from [dataset] resolution 1024"),
    ("[training]\nmax_train_steps = 0\n", "[training] max_train_steps"),
    ("[training]\nmixed_precision = 'fp8'\n", "[training] mixed_precision"),
    ("[training]\nmax_train_stpes = 10\n", "[training] max_train_stpes: unknown key"),
    ("[network]\nmodule = 'networks.lora'\n", "[network] module"),
    ("[network]\ndim = 0\n", "[network] dim"),
    ("[hardware]\nvram_profile = '8gb'\n", "[hardware] vram_profile"),
    ("[hardware]\nvram_profile = '12gb'\n[optimizer]\ntype = 'adamw'\n", "needs an 8-bit optimizer"),
    ("[hardware]\nblocks_to_swap = 40\n", "[hardware] blocks_to_swap"),
    ("[sample]\nwidth = 1000\n", "width 1000 must be a multiple of 16"),
    ("[sample]\nprompts = ['a --w 512']\n", "reads as a sample option"),
    ("[sample]\nprompts = []\n", "[sample] prompts"),
    ("[training]\noutput_name = 'a/b'\n", "must be a plain file stem"),
    ("[model]\nflux_path = 'x'\n", "[model] flux_path: unknown key"),
]


@pytest.mark.parametrize("toml,expected", BAD_CONFIGS)
def test_bad_training_config_is_one_line_before_any_gpu_work(tmp_path, capsys, monkeypatch, toml, expected):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "exp.toml"
    cfg.write_text(toml)
    assert main(["plan", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert str(cfg) in err and expected in err
    assert not (tmp_path / "runs").exists()


def test_alpha_above_rank_is_a_warning_not_an_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "exp.toml"
    cfg.write_text("[network]\ndim = 16\nalpha = 32\n")
    assert main(["plan", "--config", str(cfg)]) == 0
    assert "alpha 32 > dim 16" in capsys.readouterr().err


def test_several_config_files_select_their_own_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "other.toml"
    other.write_text("[training]\noutput_dir = 'runs/other'\noutput_name = 'other_v1'\n")
    assert main(["plan", "--config", str(other)]) == 0
    assert "other_v1" in (tmp_path / "runs" / "other" / "train.sh").read_text()


def test_our_dependency_ranges_admit_sd_scripts_pins(facts):
    from packaging.requirements import Requirement
    from packaging.version import Version

    pins = {name: spec[2:] for name, spec in facts.requirements.items() if spec.startswith("==")}
    assert {"accelerate", "safetensors", "rich", "huggingface-hub"} <= set(pins)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["train"]]
    for req in reqs:
        name = req.name.lower().replace("_", "-")
        if name in pins:
            assert req.specifier.contains(Version(pins[name])), (
                f"{req} excludes sd-scripts' {name}=={pins[name]}"
            )


def test_default_config_file_loads(monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg = load_config(Path("configs/flux_ascii.toml"))
    assert cfg.network.dim == 64 and cfg.network.alpha == 32 and cfg.optimizer.learning_rate == 4e-4


def test_the_trainer_dispatch_passes_resume_through(tmp_path):
    from ascii_lora.train.registry import build_trainer_plan

    run = tmp_path / "run"
    saved_state(run / "flux_ascii_structure_v1-step00000500-state", 500)
    assert "--resume" in build_trainer_plan(ExperimentConfig(), tmp_path, run, True).argv
    assert "--resume" not in build_trainer_plan(ExperimentConfig(), tmp_path, run, None).argv
