"""SimpleTuner's plan rule by rule: the launch line, optimizer settings, prompts, refusals, and what
SimpleTuner leaves on disk (checkpoint folders, the finished LoRA), on configs and folders built by hand.

test_simpletuner.py covers the plan's files and the CLI end to end (its two slow tests, a CLI
plan and dry run and a whole `check`, are left out of the mutation selection); these state the
rules directly, each expected value written out.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from ascii_lora.config.models import ExperimentConfig
from ascii_lora.errors import UserError
from ascii_lora.train.simpletuner.plan import (
    build_simpletuner_plan,
    checkpoint_dirs,
    finished_lora,
    flow_schedule,
    launch_argv,
    optimizer_config,
)


def test_the_shell_line_is_the_environment_then_the_command_each_word_quoted_once(tmp_path):
    plan = build_simpletuner_plan(ExperimentConfig(), tmp_path)
    plan = replace(
        plan, env={"CONFIG_BACKEND": "json", "CONFIG_PATH": "/runs/my run/config.json"}, argv=["a", "b c"]
    )
    assert plan.shell() == "CONFIG_BACKEND=json CONFIG_PATH='/runs/my run/config.json' a 'b c'"


def test_checkpoints_are_the_checkpoint_folders_by_step_oldest_first(tmp_path):
    for name in ("checkpoint-1000", "checkpoint-500", "checkpoint-x", "checkpoint-500-old", "checkpoint"):
        (tmp_path / name).mkdir()
    (tmp_path / "checkpoint-1500").write_text("a file, not a checkpoint")
    assert checkpoint_dirs(tmp_path) == [
        (500, tmp_path / "checkpoint-500"),
        (1000, tmp_path / "checkpoint-1000"),
    ]
    assert checkpoint_dirs(tmp_path / "absent") == []


def test_the_finished_lora_is_the_weights_file_simpletuner_saves_at_the_end(tmp_path):
    assert finished_lora(tmp_path) is None
    (tmp_path / "pytorch_lora_weights.safetensors").mkdir()
    assert finished_lora(tmp_path) is None  # a folder of that name is no LoRA
    (tmp_path / "pytorch_lora_weights.safetensors").rmdir()
    (tmp_path / "pytorch_lora_weights.safetensors").write_bytes(b"x")
    assert finished_lora(tmp_path) == tmp_path / "pytorch_lora_weights.safetensors"


def test_optimizer_args_follow_the_settings_that_match_sd_scripts_and_override_them(tmp_path):
    """adamw8bit carries eps=1e-08 (bitsandbytes' own default); [optimizer] args come after it,
    names and values trimmed, a repeated name replacing the earlier value; the name ends at the
    first '=', as in sd-scripts."""
    cfg = ExperimentConfig.model_validate(
        {"optimizer": {"type": "adamw8bit", "args": ["weight_decay = 0.01", "eps=1e-6", "extra = a=b"]}}
    )
    assert optimizer_config(cfg) == "eps=1e-6,weight_decay=0.01,extra=a=b"
    plain = ExperimentConfig.model_validate({"optimizer": {"type": "adamw"}})
    assert optimizer_config(plain) is None
    assert "optimizer_config" not in build_simpletuner_plan(plain, tmp_path).config


def test_a_timestep_sampling_without_simpletuner_equivalent_is_named(tmp_path):
    cfg = ExperimentConfig.model_validate({"training": {"timestep_sampling": "sigma"}})  # a Kohya config
    with pytest.raises(ValueError) as e:
        flow_schedule(cfg)
    assert str(e.value) == "timestep_sampling 'sigma' has no SimpleTuner equivalent"


def test_a_second_prompt_is_what_makes_a_prompt_library(tmp_path):
    """The first prompt is SimpleTuner's validation_prompt; every further one goes to the library."""
    two = ExperimentConfig.model_validate(
        {"sample": {"prompts": ["ascii_structure_style, a", "ascii_structure_style, b"]}}
    )
    plan = build_simpletuner_plan(two, tmp_path, run_dir=tmp_path / "run")
    assert plan.config["user_prompt_library"] == str(tmp_path / "run" / "user_prompt_library.json")
    assert plan.prompt_library == {"prompt_01": "ascii_structure_style, b"}
    one = ExperimentConfig.model_validate({"sample": {"prompts": ["ascii_structure_style, a"]}})
    assert "user_prompt_library" not in build_simpletuner_plan(one, tmp_path, run_dir=tmp_path / "run").config


def test_simpletuner_is_launched_by_its_own_accelerate_one_machine_no_dynamo(tmp_path):
    cfg = ExperimentConfig.model_validate(
        {"training": {"mixed_precision": "bf16"}, "hardware": {"num_cpu_threads_per_process": 3}}
    )
    assert launch_argv(cfg, tmp_path) == [
        str(tmp_path.resolve() / ".venv-simpletuner" / "bin" / "accelerate"),
        "launch",
        "--mixed_precision",
        "bf16",
        "--num_processes",
        "1",
        "--num_machines",
        "1",
        "--dynamo_backend",
        "no",
        "--num_cpu_threads_per_process",
        "3",
        "-m",
        "simpletuner.train",
    ]


def test_a_run_whose_link_folder_is_the_dataset_is_refused_when_planned(tmp_path):
    cfg = ExperimentConfig.model_validate({"dataset": {"out": "runs/a/dataset"}})
    with pytest.raises(UserError, match="its link folder .* would overlap the dataset folder"):
        build_simpletuner_plan(cfg, tmp_path, run_dir=tmp_path / "runs" / "a")


def test_resume_comes_from_the_config_unless_the_command_line_says(tmp_path):
    cfg = ExperimentConfig.model_validate({"training": {"resume": True}})
    assert build_simpletuner_plan(cfg, tmp_path).resume is True
    assert build_simpletuner_plan(cfg, tmp_path, resume=False).resume is False
    assert build_simpletuner_plan(ExperimentConfig(), tmp_path, resume=True).resume is True
