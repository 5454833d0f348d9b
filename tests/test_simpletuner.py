"""`[trainer] kind = "simpletuner"`: the same experiment file becomes SimpleTuner 3.1.6's own files.

Every emitted key and value is held twice: to the facts extracted from the pinned SimpleTuner
(tests/fixtures/simpletuner_facts.json, written by tools/simpletuner_facts.py from its argparse
parser and source) and to the expected values written out below by hand from the recipe.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ascii_lora.check.ranking import parse_sample_name
from ascii_lora.cli import main
from ascii_lora.config.loader import load_config
from ascii_lora.config.models import ExperimentConfig
from ascii_lora.dataset.families import FAMILIES
from ascii_lora.dataset.writer import write_dataset
from ascii_lora.errors import UserError
from ascii_lora.grid.atlas import get_atlas
from ascii_lora.train.probes import Gpu, Probes
from ascii_lora.train.registry import build_trainer_plan
from ascii_lora.train.simpletuner.files import write_simpletuner_plan
from ascii_lora.train.simpletuner.install import simpletuner_install_commands
from ascii_lora.train.simpletuner.plan import SIMPLETUNER_VERSION, SimpleTunerPlan
from ascii_lora.train.simpletuner.preflight import SimpleTunerProbes, run_simpletuner_preflight

from .fakes import fake_model

ROOT = Path(__file__).resolve().parents[1]
FACTS = json.loads((ROOT / "tests" / "fixtures" / "simpletuner_facts.json").read_text())
GIB = 1024**3
VERIFICATION = "ascii_structure_style, systematic dungeon map, infinite corridor, white on black"


class Facts:
    """Replays what SimpleTuner's parser does with a config.json value (its keys become --key=value)."""

    def __init__(self, facts: dict):
        self.options = {o.lstrip("-"): f for f in facts["parser_options"] for o in f["options"]}
        self.precisions = facts["base_model_precision"]["base"] + facts["base_model_precision"]["cuda_only"]
        opts = facts["optimizers"]
        self.optimizers = (set(opts["always"]) | set(opts["needs_bitsandbytes"])) - set(opts["deprecated"])
        self.flavours = set(facts["flux"]["HUGGINGFACE_PATHS"])

    def check(self, key: str, value) -> None:
        assert key in self.options, f"{key} is not a SimpleTuner 3.1.6 option"
        f = self.options[key]
        kind = {"int": int, "float": (int, float), "bool": bool, "str": str}[f["type"]]
        assert isinstance(value, kind) and (f["type"] == "bool" or not isinstance(value, bool)), (
            f"{key}={value!r} is not {f['type']}"
        )
        if key == "base_model_precision":  # CUDA-only choices are missing from a CPU box's parser
            assert value in self.precisions, f"{key} {value!r} not in {self.precisions}"
        elif key == "optimizer":  # registered at import, not an argparse choice
            assert value in self.optimizers, f"optimizer {value!r} not registered"
        elif key == "model_flavour":
            assert value in self.flavours
        elif f["choices"] is not None:
            assert str(value) in f["choices"], f"{key} {value!r} not in {f['choices']}"


ST = Facts(FACTS)


def cfg_for(**tables) -> ExperimentConfig:
    return ExperimentConfig.model_validate({"trainer": {"kind": "simpletuner"}, **tables})


def plan_for(tmp_path: Path, **tables) -> SimpleTunerPlan:
    plan = build_trainer_plan(cfg_for(**tables), tmp_path, tmp_path / "run")
    assert isinstance(plan, SimpleTunerPlan)
    return plan


# -- provenance ------------------------------------------------------------------------------------


def test_fixture_pyproject_and_constraints_pin_the_same_simpletuner():
    prov = FACTS["provenance"]
    assert prov["tool"] == "tools/simpletuner_facts.py" and (ROOT / prov["tool"]).exists()
    assert prov["versions"]["simpletuner"] == SIMPLETUNER_VERSION == "3.1.6"
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "simpletuner"
    ]
    pins = dict(
        line.split("#")[0].strip().split("==")
        for line in (ROOT / "constraints" / "simpletuner.txt").read_text().splitlines()
        if "==" in line.split("#")[0]
    )
    for name in ("simpletuner", "diffusers", "torchao", "bitsandbytes"):
        assert f"{name}=={pins[name]}" in extra, name
        assert prov["versions"][name] == pins[name], f"the fixture was extracted with another {name}"
    assert {"torch", "torchvision", "torchaudio"} <= set(
        pins
    )  # one matching family, never an unpinned CUDA resolve


# -- config.json --------------------------------------------------------------------------------------


def expected_config(run: Path, root: Path) -> dict:
    """The recipe (docs/training.md: rank 64 / alpha 32, lr 4e-4, 8-bit AdamW, bf16, 3000 steps ...), in SimpleTuner's words."""
    return {
        "model_family": "flux",
        "model_flavour": "dev",
        "model_type": "lora",
        "lora_type": "standard",
        "pretrained_model_name_or_path": "black-forest-labs/FLUX.1-dev",
        "pretrained_transformer_model_name_or_path": str(root / "models" / "flux1-dev.safetensors"),
        "pretrained_transformer_subfolder": "none",
        "output_dir": str(run),
        "data_backend_config": f"{run}/multidatabackend.json",
        "cache_dir": f"{run}/cache",
        "cache_dir_text": f"{run}/cache/text",
        "cache_dir_vae": f"{run}/cache/vae",
        "vae_cache_ondemand": False,
        "resolution": 1024,
        "resolution_type": "pixel",
        "caption_strategy": "textfile",
        "caption_dropout_probability": 0.0,
        "lora_rank": 64,
        "lora_alpha": 32.0,
        "lora_dropout": 0.0,
        "flux_lora_target": "all+ffs",
        "optimizer": "bnb-adamw8bit",
        "optimizer_config": "eps=1e-08",
        "learning_rate": 4e-4,
        "lr_scheduler": "constant_with_warmup",
        "lr_warmup_steps": 100,
        "max_grad_norm": 1.0,
        "grad_clip_method": "norm",
        "max_train_steps": 3000,
        "num_train_epochs": 0,
        "train_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "gradient_checkpointing": True,
        "mixed_precision": "bf16",
        "base_model_precision": "fp8-quanto",
        "seed": 42,
        "checkpoint_step_interval": 500,
        "checkpoints_total_limit": 7,
        "resume_from_checkpoint": "latest",
        "flux_guidance_mode": "constant",
        "flux_guidance_value": 1.0,
        "flow_schedule_shift": 3.1582,
        "flow_schedule_auto_shift": False,
        "flow_use_uniform_schedule": False,
        "validation_prompt": VERIFICATION,
        "user_prompt_library": f"{run}/user_prompt_library.json",
        "validation_step_interval": 250,
        "validation_on_startup": False,
        "disable_benchmark": True,
        "validation_resolution": "1024x1024",
        "validation_guidance": 3.5,
        "validation_guidance_real": 1.0,
        "validation_num_inference_steps": 20,
        "validation_seed": 1234,
        "num_validation_images": 1,
        "validation_disable_unconditional": True,
        "report_to": "tensorboard",
        "logging_dir": "logs",
    }


def test_default_experiment_emits_exactly_the_expected_config(tmp_path):
    plan = plan_for(tmp_path)
    expected = expected_config(tmp_path / "run", tmp_path)
    assert set(plan.config) == set(expected)
    for key, value in expected.items():
        got = plan.config[key]
        assert got == value and type(got) is type(value), f"{key}: {got!r} != {value!r}"


@pytest.mark.parametrize(
    "tables",
    [
        {},
        {"hardware": {"vram_profile": "48gb+", "num_gpus": 4}},
        {"training": {"timestep_sampling": "flux_shift"}},
        {"training": {"timestep_sampling": "uniform"}},
        {"training": {"timestep_sampling": "sigmoid", "cache_latents_to_disk": False}},
        {"optimizer": {"type": "adamw", "args": ["weight_decay=0.05"]}},
        {"optimizer": {"type": "pagedadamw8bit"}},
        {"optimizer": {"type": "lion8bit", "scheduler": "cosine", "warmup_steps": 0}},
        {"sample": {"prompts": ["only one"]}},
    ],
)
def test_every_emitted_key_type_and_choice_is_accepted_by_simpletuner(tmp_path, tables):
    plan = plan_for(tmp_path, **tables)
    for key, value in plan.config.items():
        ST.check(key, value)


def test_simpletuner_defaults_that_differ_from_the_recipe_are_written_out(tmp_path):
    """Left out, these SimpleTuner defaults would silently change the run."""
    defaults = {f["dest"]: f["default"] for f in FACTS["parser_options"]}
    plan = plan_for(tmp_path)
    assert FACTS["flux"]["DEFAULT_MODEL_FLAVOUR"] != "dev" and plan.config["model_flavour"] == "dev"
    for key, recipe in (
        ("lora_dropout", 0.0),
        ("caption_dropout_probability", 0.0),
        ("grad_clip_method", "norm"),
        ("validation_guidance", 3.5),
        ("lora_rank", 64),
        ("learning_rate", 4e-4),
        ("flow_schedule_shift", 3.1582),
        ("validation_step_interval", 250),
        ("optimizer", "bnb-adamw8bit"),
    ):
        assert defaults[key] != recipe, (
            f"{key}: SimpleTuner's default already is the recipe; the test lost its point"
        )
        assert plan.config[key] == recipe
    assert defaults["checkpoints_total_limit"] < 3000 // 500, (
        "SimpleTuner would delete checkpoints the checker ranks"
    )


def test_8bit_adamw_is_the_same_bitsandbytes_class_with_its_own_eps():
    """sd-scripts builds bitsandbytes.optim.AdamW8bit(lr=...) so bitsandbytes' defaults hold: eps 1e-8, weight decay 1e-2."""
    settings = FACTS["optimizers"]["needs_bitsandbytes"]["bnb-adamw8bit"]["default_settings"]
    assert settings["eps"] == 1e-06  # why optimizer_config carries eps=1e-08
    assert settings["weight_decay"] == 0.01 and settings["betas"] == [0.9, 0.999]


@pytest.mark.parametrize(
    "sampling, expected",
    [
        ("shift", (3.1582, False, False)),
        ("flux_shift", (0.0, True, False)),
        ("sigmoid", (1.0, False, False)),
        ("uniform", (1.0, False, True)),
    ],
)
def test_timestep_sampling_maps_to_the_same_distribution(tmp_path, sampling, expected):
    c = plan_for(tmp_path, training={"timestep_sampling": sampling}).config
    assert (
        c["flow_schedule_shift"],
        c["flow_schedule_auto_shift"],
        c["flow_use_uniform_schedule"],
    ) == expected


def test_profiles_batch_precision_and_gpus(tmp_path):
    big = plan_for(tmp_path, hardware={"vram_profile": "48gb+", "num_gpus": 4})
    assert big.config["base_model_precision"] == "no_change" and big.config["train_batch_size"] == 2
    assert big.argv[big.argv.index("--num_processes") + 1] == "4" and "--multi_gpu" in big.argv
    assert big.argv[-2:] == ["-m", "simpletuner.train"] and big.argv[0].endswith(
        ".venv-simpletuner/bin/accelerate"
    )
    assert big.env == {"CONFIG_BACKEND": "json", "CONFIG_PATH": str(tmp_path / "run" / "config.json")}
    assert plan_for(tmp_path, training={"batch_size": 5}).config["train_batch_size"] == 5


# -- multidatabackend.json ---------------------------------------------------------------------------


def test_backends_are_one_image_folder_and_the_text_cache_beside_the_run(tmp_path):
    run = tmp_path / "run"
    plan = plan_for(tmp_path, training={"num_repeats": 3})
    assert plan.backends == [
        {
            "id": "ascii-grid",
            "type": "local",
            "dataset_type": "image",
            "instance_data_dir": f"{run}/dataset",
            "caption_strategy": "textfile",
            "metadata_backend": "discovery",
            "resolution": 1024,
            "resolution_type": "pixel",
            "minimum_image_size": 1024,
            "crop": False,
            "repeats": 2,
            "cache_dir_vae": f"{run}/cache/vae",
        },
        {
            "id": "text-embeds",
            "type": "local",
            "dataset_type": "text_embeds",
            "default": True,
            "cache_dir": f"{run}/cache/text",
        },
    ]
    choices = FACTS["backend_choices"]
    for entry in plan.backends:
        for key in entry:
            assert key in FACTS["backend_keys"], f"SimpleTuner never reads {key!r} from a backend entry"
        assert entry["dataset_type"] in choices["dataset_type"]["values"]
    image = plan.backends[0]
    assert image["caption_strategy"] in choices["caption_strategy"]["values"]
    assert image["resolution_type"] in choices["valid_resolution_types"]["values"]


def test_plan_files_link_the_dataset_without_touching_it(tmp_path):
    data = tmp_path / "data" / "ascii_training_data"
    write_dataset(ExperimentConfig().dataset.model_copy(update={"count": 3}), data)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in data.iterdir())
    plan = plan_for(tmp_path)
    write_simpletuner_plan(plan)
    run = tmp_path / "run"
    links = sorted(p.name for p in (run / "dataset").iterdir())
    assert links == sorted(p.name for p in data.iterdir() if p.suffix in (".png", ".txt")) and len(links) == 6
    assert all(
        (run / "dataset" / n).is_symlink() and (run / "dataset" / n).resolve() == (data / n).resolve()
        for n in links
    )
    assert (
        sorted((p.name, p.stat().st_mtime_ns) for p in data.iterdir()) == before
    )  # SimpleTuner's bucket files go to the run
    assert json.loads((run / "config.json").read_text()) == plan.config
    assert json.loads((run / "multidatabackend.json").read_text()) == plan.backends
    assert json.loads((run / "user_prompt_library.json").read_text()) == {
        f"prompt_{i:02d}": p for i, p in enumerate(ExperimentConfig().sample.prompts[1:], start=1)
    }
    sh = (run / "train.sh").read_text()
    assert (
        f"cd {run}\n" in sh
        and f"export CONFIG_PATH={run}/config.json\n" in sh
        and sh.rstrip().endswith("-m simpletuner.train")
    )
    write_dataset(ExperimentConfig().dataset.model_copy(update={"count": 2}), data)
    write_simpletuner_plan(plan)
    assert len(list((run / "dataset").iterdir())) == 4  # links of removed images go too


# -- refusals -----------------------------------------------------------------------------------------

REFUSED = [
    ("network", "dropout", 0.1),
    ("network", "args", ["train_blocks=single"]),
    ("network", "train_unet_only", False),
    ("model", "t5xxl", "models/t5xxl_fp8.safetensors"),
    ("model", "tokenizer_cache_dir", "elsewhere"),
    ("training", "save_precision", "fp16"),
    ("training", "output_name", "other"),
    ("training", "keep_tokens", 0),
    ("training", "max_data_loader_n_workers", 8),
    ("training", "seed", 0),
    ("sample", "seed", 0),
    ("training", "timestep_sampling", "sigma"),
    ("training", "model_prediction_type", "additive"),
    ("optimizer", "type", "prodigy"),
    ("optimizer", "type", "adafactor"),
    ("optimizer", "type", "lion"),
    ("optimizer", "args", ["betas=(0.9,0.99)"]),
    ("hardware", "vram_profile", "16gb"),
    ("hardware", "blocks_to_swap", 4),
]


def _toml_value(v) -> str:
    return json.dumps(v) if not isinstance(v, bool) else ("true" if v else "false")


@pytest.mark.parametrize("table, key, value", REFUSED)
def test_options_without_simpletuner_equivalent_are_refused_naming_both_trainers(tmp_path, table, key, value):
    path = tmp_path / "exp.toml"
    path.write_text(f'[trainer]\nkind = "simpletuner"\n[{table}]\n{key} = {_toml_value(value)}\n')
    with pytest.raises(UserError) as e:
        load_config(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg
    assert "SimpleTuner" in msg and "kohya" in msg.lower() and f"[{table}]" in msg
    path.write_text(f"[{table}]\n{key} = {_toml_value(value)}\n")
    assert load_config(path).trainer.kind == "kohya"  # Kohya takes the same file


def test_cli_trainer_switch_overrides_the_file(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text("[network]\ndropout = 0.1\n")
    assert main(["plan", "--config", str(path), "--run-dir", str(tmp_path / "k")]) == 0
    assert (
        main(["plan", "--config", str(path), "--trainer", "simpletuner", "--run-dir", str(tmp_path / "s")])
        == 2
    )
    assert "no SimpleTuner 3.1.6 equivalent" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()  # nothing half-written


# -- CLI and pre-flight -------------------------------------------------------------------------------


def test_plan_and_dry_run_from_the_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "--trainer", "simpletuner", "--run-dir", "r"]) == 0
    assert {p.name for p in (tmp_path / "r").iterdir()} >= {
        "config.json",
        "multidatabackend.json",
        "train.sh",
        "user_prompt_library.json",
        "config.resolved.toml",
        "dataset",
    }
    assert not (tmp_path / "r" / "train.args.json").exists()  # no Kohya files in a SimpleTuner run
    assert "SimpleTuner plan ready" in capsys.readouterr().out
    assert main(["train", "--trainer", "simpletuner", "--run-dir", "r", "--dry-run"]) == 0
    assert "-m simpletuner.train" in capsys.readouterr().out
    assert (
        main(["train", "--trainer", "simpletuner", "--run-dir", "r"]) == 1
    )  # this CPU box: pre-flight refuses
    assert "nothing was launched" in capsys.readouterr().err


@pytest.fixture
def pod(tmp_path) -> Path:
    fake_model(tmp_path / "models" / "flux1-dev.safetensors", "flux-dev")
    write_dataset(
        ExperimentConfig().dataset.model_copy(update={"count": 4}), tmp_path / "data" / "ascii_training_data"
    )
    return tmp_path


def healthy(**kw) -> SimpleTunerProbes:
    report = {
        "simpletuner": "3.1.6",
        "bitsandbytes": "0.50.2",
        "torch": "2.11.0",
        "diffusers": "0.36.0",
        "torchao": "0.14.1",
        "cuda": True,
        "gpus": [["NVIDIA H100", 80.0]],
    }
    base = dict(
        report=report,
        accept=(True, "accepted"),
        hf_cache=True,
        machine=Probes(
            gpus=[Gpu("NVIDIA H100", 80.0)], torch_cuda=False, free_bytes=500 * GIB, parse_argv=True
        ),
    )
    base.update(kw)
    return SimpleTunerProbes(**base)


def preflight(pod: Path, probes: SimpleTunerProbes, resume: bool = False, **tables) -> dict:
    cfg = cfg_for(**tables)
    plan = build_trainer_plan(cfg, pod, resume=resume)
    write_simpletuner_plan(plan)
    return {c.name: c for c in run_simpletuner_preflight(cfg, plan, pod, probes)}


def test_a_ready_pod_passes_every_simpletuner_check(pod):
    checks = preflight(pod, healthy())
    assert {k: c.detail for k, c in checks.items() if c.ok is False} == {}
    assert {
        "CUDA GPU",
        "SimpleTuner environment",
        "bitsandbytes",
        "model flux",
        "FLUX.1-dev diffusers parts",
        "dataset",
        "SimpleTuner accepts the plan",
        "output dir",
        "free disk",
    } <= set(checks)


@pytest.mark.parametrize(
    "probes, failing",
    [
        (dict(report=None), "SimpleTuner environment"),
        (
            dict(
                report={
                    "simpletuner": "3.2.0",
                    "cuda": True,
                    "gpus": [["H100", 80.0]],
                    "bitsandbytes": "0.50.2",
                }
            ),
            "SimpleTuner environment",
        ),
        (
            dict(
                report={"simpletuner": "3.1.6", "cuda": True, "gpus": [["H100", 80.0]], "bitsandbytes": None}
            ),
            "bitsandbytes",
        ),
        (
            dict(report={"simpletuner": "3.1.6", "cuda": False, "gpus": [], "bitsandbytes": "0.50.2"}),
            "CUDA GPU",
        ),  # GPUs, CPU torch
        (
            dict(
                report={
                    "simpletuner": "3.1.6",
                    "cuda": True,
                    "gpus": [["RTX 4090", 24.0]],
                    "bitsandbytes": "x",
                }
            ),
            None,
        ),
        (
            dict(
                report={
                    "simpletuner": "3.1.6",
                    "cuda": True,
                    "gpus": [["RTX 4080", 16.0]],
                    "bitsandbytes": "x",
                }
            ),
            "CUDA GPU",
        ),
        (
            dict(accept=(False, "FAIL config.json lora_rank: ours 64, SimpleTuner parsed 16")),
            "SimpleTuner accepts the plan",
        ),
        (dict(hf_cache=False), "FLUX.1-dev diffusers parts"),
    ],
)
def test_each_simpletuner_problem_fails_its_own_check(pod, probes, failing):
    checks = preflight(pod, healthy(**probes))
    failed = sorted(k for k, c in checks.items() if c.ok is False)
    assert failed == ([failing] if failing else [])
    if failing:
        assert checks[failing].fix
    if failing == "CUDA GPU" and "cannot use CUDA" in checks[failing].detail:
        assert "TRAINER=simpletuner" in checks[failing].fix  # the fix installs into SimpleTuner's environment


def test_stale_checkpoints_refuse_a_fresh_run_and_serve_a_resume(pod):
    (pod / "runs" / "flux_ascii" / "checkpoint-500").mkdir(parents=True)
    fresh = preflight(pod, healthy())["resume state"]
    assert fresh.ok is False and "always resumes" in fresh.detail and "RESUME=1" in fresh.fix
    assert preflight(pod, healthy(), resume=True)["resume state"].ok is True
    (pod / "runs" / "flux_ascii" / "checkpoint-500").rmdir()
    assert preflight(pod, healthy(), resume=True)["resume state"].ok is False


def test_setup_installs_into_its_own_environment_under_the_constraints(tmp_path):
    python = tmp_path / ".venv-simpletuner" / "bin" / "python"
    cmds = [c for c, _ in simpletuner_install_commands(tmp_path, python)]
    assert all(c[0] == str(python) for c in cmds)  # never the project (Kohya) environment
    constraints = str(tmp_path / "constraints" / "simpletuner.txt")
    installs = [c for c in cmds if "--upgrade" not in c]
    assert all(["-c", constraints] == c[c.index("-c") : c.index("-c") + 2] for c in installs)
    assert (
        installs[0][-3:] == ["torch", "torchvision", "torchaudio"]
        and installs[1][-1] == f"{tmp_path}[simpletuner]"
    )


# -- what SimpleTuner leaves on disk ------------------------------------------------------------------


def _render(template: str, **values) -> str:
    return re.sub(r"\{[^}]*\}", lambda m: str(values[next(k for k in values if k in m.group(0))]), template)


def test_validation_image_and_checkpoint_names_come_from_simpletuners_source():
    layout = FACTS["output_layout"]
    assert layout["validation_dir"]["expr"] == "os.path.join(args.output_dir, 'validation_images')"
    name = _render(
        layout["validation_image"]["template"],
        get_global_step=1500,
        validation_shortname="prompt_02",
        validation_img_idx=0,
        res_label="1024x1024",
    )
    assert name == "step_1500_prompt_02_0_1024x1024.png"
    assert parse_sample_name(Path(name).stem) == ("simpletuner", "step", 1500)
    assert _render(layout["checkpoint_dir"]["template"], global_step=500) == "checkpoint-500"
    assert layout["lora_weights_file"]["name"] == "pytorch_lora_weights.safetensors"


def test_check_ranks_simpletuner_validation_images_and_finds_their_checkpoints(tmp_path, capsys):
    atlas = get_atlas(16)
    clean = [
        atlas.render_gray(FAMILIES["maze"](np.random.default_rng([5, s]), ExperimentConfig().dataset).grid)
        for s in range(2)
    ]
    grey = [np.full_like(c, 128) for c in clean]
    run = tmp_path / "runs" / "flux_ascii"
    folder = run / "validation_images"
    folder.mkdir(parents=True)
    for step, images in {0: clean, 500: grey, 1000: clean}.items():
        for img, short in zip(images, ("validation", "prompt_01"), strict=False):
            Image.fromarray(img).convert("RGB").save(folder / f"step_{step}_{short}_0_1024x1024.png")
    (run / "checkpoint-500").mkdir()
    (run / "checkpoint-500" / "pytorch_lora_weights.safetensors").write_bytes(b"x")
    (run / "pytorch_lora_weights.safetensors").write_bytes(b"x")
    cfgfile = tmp_path / "exp.toml"
    cfgfile.write_text(f'[trainer]\nkind = "simpletuner"\n[training]\noutput_dir = "{run}"\n')
    code = main(["check", "--config", str(cfgfile)])
    assert code == 1  # the grey step fails
    data = json.loads((run / "check" / "report.json").read_text())
    by_step = {c["number"]: c for c in data["checkpoints"]}
    assert sorted(by_step) == [0, 500, 1000] and all(c["images"] == 2 for c in by_step.values())
    assert by_step[500]["pass_rate"] == 0 and by_step[500]["checkpoint_file"].endswith(
        "checkpoint-500/pytorch_lora_weights.safetensors"
    )
    assert by_step[1000]["best"] and by_step[1000]["checkpoint_file"] == str(
        run / "pytorch_lora_weights.safetensors"
    )
    assert not by_step[0]["best"]  # step 0 is the base model


def test_setup_train_simpletuner_builds_its_own_environment_then_fetches_models(tmp_path, monkeypatch):
    import ascii_lora.train.simpletuner.install as setup

    ran, fetched = [], []
    monkeypatch.setattr(setup, "run", lambda cmd, cwd, say: ran.append(cmd))
    monkeypatch.setattr(
        setup, "download_models", lambda cfg, root, say, hub_download=None, keys=None: fetched.append(keys)
    )
    setup.setup_simpletuner(cfg_for(), tmp_path, say=lambda s: None)
    env_python = str(tmp_path / ".venv-simpletuner" / "bin" / "python")
    assert ran[0][1:] == ["-m", "venv", str(tmp_path / ".venv-simpletuner")]
    assert all(cmd[0] == env_python for cmd in ran[1:])
    assert fetched == [
        ("flux",)
    ]  # the transformer file only: SimpleTuner takes encoders and VAE from the diffusers repo
    assert ran[-1][3:] == ["black-forest-labs/FLUX.1-dev", *setup.FLUX_DIFFUSERS_PARTS]
    assert "text_encoder_2/*" in setup.FLUX_DIFFUSERS_PARTS and not any(
        p.startswith("transformer/d") for p in setup.FLUX_DIFFUSERS_PARTS
    )


def test_train_launches_simpletuner_from_the_run_with_its_config_path(tmp_path, monkeypatch, capsys):
    import ascii_lora.train.launcher as launcher
    import ascii_lora.train.simpletuner.preflight as pre

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pre, "run_simpletuner_preflight", lambda cfg, plan, root, probes=None: [])
    calls = []

    def fake_launch(argv, cwd, log, echo=print, env=None):
        calls.append((argv, cwd, env))
        return 0

    monkeypatch.setattr(launcher, "launch", fake_launch)
    assert (
        main(["train", "--trainer", "simpletuner", "--run-dir", "r"]) == 1
    )  # exit 0, but no LoRA: SimpleTuner failed
    assert "wrote no final LoRA" in capsys.readouterr().err
    argv, cwd, env = calls[0]
    assert (
        cwd == tmp_path / "r"
        and env["CONFIG_PATH"] == str(tmp_path / "r" / "config.json")
        and argv[-1] == "simpletuner.train"
    )
    (tmp_path / "r" / "pytorch_lora_weights.safetensors").write_bytes(b"x")
    assert main(["train", "--trainer", "simpletuner", "--run-dir", "r"]) == 0


def test_inspect_reads_a_simpletuner_lora_in_diffusers_layout(tmp_path):
    from safetensors.numpy import save_file

    from ascii_lora.train.lora_inspect import inspect_lora

    tensors = {}
    for prefix in (
        "transformer.transformer_blocks.0.attn.to_q",
        "transformer.transformer_blocks.18.ff.net.2",
        "transformer.single_transformer_blocks.37.proj_out",
    ):
        tensors[f"{prefix}.lora_A.weight"] = np.zeros((64, 8), dtype=np.float16)
        tensors[f"{prefix}.lora_B.weight"] = np.zeros((8, 64), dtype=np.float16)
    meta = {
        "format": "pt",
        "lora_adapter_metadata": json.dumps({"transformer.lora_alpha": 32, "transformer.r": 64}),
    }
    save_file(tensors, str(tmp_path / "pytorch_lora_weights.safetensors"), metadata=meta)
    info = inspect_lora(tmp_path / "pytorch_lora_weights.safetensors", cfg_for())
    assert (info.modules, info.rank, info.alpha) == (3, 64, 32.0)
    assert info.blocks == {"double_blocks": [0, 18], "single_blocks": [37]} and info.other_modules == 0
    assert info.warnings == []
