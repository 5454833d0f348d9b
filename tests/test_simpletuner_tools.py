"""The SimpleTuner facts tool and the environment probes, without SimpleTuner installed.

tools/simpletuner_facts.py reads SimpleTuner's source with ``ast``; here it reads a small
synthetic tree written in the same shapes, so a change that breaks the extraction fails on the
CPU box. The probes that ask .venv-simpletuner are run against a fake interpreter script.
"""

from __future__ import annotations

import importlib.util
import json
import stat
import textwrap
from pathlib import Path

import pytest

from ascii_lora.train.simpletuner.preflight import SimpleTunerProbes

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location(
        "simpletuner_facts", ROOT / "tools" / "simpletuner_facts.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "simpletuner"
    write(
        root,
        "helpers/training/__init__.py",
        """
        quantised_precision_levels = ["no_change", "int8-quanto"]
        import torch
        if torch.cuda.is_available():
            quantised_precision_levels.extend(["nf4-bnb", "fp8-quanto"])
            if True:
                quantised_precision_levels.append("fp8-torchao")
    """,
    )
    write(
        root,
        "helpers/training/optimizer_param.py",
        """
        optimizer_choices = {
            "torch-adamw": {"precision": "any", "default_settings": {"betas": (0.9, 0.999), "eps": 1e-08}, "class": X},
            "adamw_bf16": {"default_settings": {"weight_decay": 1e-2}, "class": Y},
        }
        if is_bitsandbytes_available and hasattr(bitsandbytes, "optim"):
            optimizer_choices.update({"bnb-adamw8bit": {"default_settings": {"eps": 1e-6}, "class": Z}})
        deprecated_optimizers = {"adamw8bit": "removed"}
    """,
    )
    write(
        root,
        "helpers/data_backend/factory.py",
        """
        def configure(backend, args):
            a = backend.get("cache_dir_vae")
            b = backend["instance_data_dir"]
            if "crop" in backend:
                pass
            other = {"x": 1}
            other.get("not_a_backend_key")
    """,
    )
    for rel in ("config/base.py", "config/image.py", "builders/base.py", "builders/local.py"):
        write(
            root,
            f"helpers/data_backend/{rel}",
            "def f(backend_dict):\n    return backend_dict.get('resolution_type')\n",
        )
    write(root, "helpers/data_backend/config/text_embed.py", "passthrough_keys = {'cache_dir'}\n")
    write(
        root,
        "helpers/training/validation_images.py",
        """
        def save_images(save_dir, validation_images, validation_shortname, res, config):
            other = f"not_{res}"
            filename = f"step_{StateTracker.get_global_step()}_{validation_shortname}_{idx}_{res_label}.png"
    """,
    )
    return root


def test_cuda_only_precisions_are_read_from_the_cuda_branch(tool, tree):
    got = tool.cuda_only_precisions(tree)
    assert got["base"] == ["no_change", "int8-quanto"]
    assert got["cuda_only"] == ["nf4-bnb", "fp8-quanto", "fp8-torchao"]


def test_optimizers_split_into_always_bitsandbytes_and_deprecated(tool, tree):
    got = tool.optimizers(tree)
    assert set(got["always"]) == {"torch-adamw", "adamw_bf16"}
    assert got["always"]["torch-adamw"]["default_settings"] == {"betas": [0.9, 0.999], "eps": 1e-08}
    assert got["needs_bitsandbytes"]["bnb-adamw8bit"]["default_settings"] == {"eps": 1e-06}
    assert got["deprecated"] == ["adamw8bit"]


def test_backend_keys_are_the_strings_read_from_an_entry(tool, tree):
    keys = tool.backend_keys(tree)
    assert set(keys) == {"cache_dir_vae", "instance_data_dir", "crop", "resolution_type", "cache_dir"}
    assert keys["cache_dir_vae"].startswith("simpletuner/helpers/data_backend/factory.py:")


def test_file_name_templates_come_from_the_named_function(tool, tree):
    got = tool._find_fstring(tree / "helpers/training/validation_images.py", tree, "save_images", "step_")
    assert (
        got["template"]
        == "step_{StateTracker.get_global_step()}_{validation_shortname}_{idx}_{res_label}.png"
    )
    with pytest.raises(SystemExit):
        tool._find_fstring(tree / "helpers/training/validation_images.py", tree, "save_images", "checkpoint-")


def fake_python(path: Path, stdout: str, code: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{stdout}\nEOF\nexit {code}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_env_report_and_loader_verdict_are_read_from_the_environment(tmp_path):
    report = {"simpletuner": "3.1.6", "cuda": True, "gpus": [["H100", 79.6]]}
    py = fake_python(tmp_path / "env" / "python", "noise line\n" + json.dumps(report), 0)
    assert SimpleTunerProbes().env_report(py) == report
    assert SimpleTunerProbes().env_report(tmp_path / "missing" / "python") is None
    py = fake_python(
        tmp_path / "env2" / "python",
        "ok   lora_rank = 64 -> 64\nFAIL config.json seed: ours 42, SimpleTuner parsed 7\nSimpleTuner 3.1.6: 1 value(s) not intact",
        1,
    )
    assert SimpleTunerProbes().accepts(py, tmp_path) == (
        False,
        "FAIL config.json seed: ours 42, SimpleTuner parsed 7",
    )
    py = fake_python(
        tmp_path / "env3" / "python", "ok   a\nSimpleTuner 3.1.6 accepted config.json (58 keys)", 0
    )
    assert SimpleTunerProbes().accepts(py, tmp_path) == (
        True,
        "SimpleTuner 3.1.6 accepted config.json (58 keys)",
    )


def test_flux_parts_are_looked_up_in_the_hugging_face_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert SimpleTunerProbes().flux_parts_cached() is False
    snap = tmp_path / "models--black-forest-labs--FLUX.1-dev" / "snapshots" / "abc"
    (snap / "vae").mkdir(parents=True)
    (snap / "vae" / "config.json").write_text("{}")
    assert SimpleTunerProbes().flux_parts_cached() is False  # the T5 encoder is still missing
    (snap / "text_encoder_2").mkdir()
    assert SimpleTunerProbes().flux_parts_cached() is True
