"""`ascii-lora inspect` reads a LoRA from its header alone, laid out as sd-scripts saves it."""

from __future__ import annotations

import json

import pytest

from ascii_lora.cli import main
from ascii_lora.config.models import ExperimentConfig
from ascii_lora.train.lora_inspect import inspect_lora
from ascii_lora.train.plan import SD_SCRIPTS_COMMIT

from .fakes import fake_lora
from .kohya_facts import KohyaFacts

META = {
    "ss_network_dim": "4", "ss_network_alpha": "2.0", "ss_network_module": "networks.lora_flux",
    "ss_base_model_version": "flux1", "ss_steps": "1500", "ss_learning_rate": "0.0004", "ss_seed": "42",
    "ss_sd_scripts_commit_hash": SD_SCRIPTS_COMMIT, "ss_optimizer": "bitsandbytes.optim.adamw.AdamW8bit",
    "modelspec.architecture": "flux-1-dev/lora",
}


@pytest.fixture(scope="module")
def layout() -> dict:
    """networks.lora_flux's modules on FLUX.1-dev, read from the pinned sd-scripts (tests/fixtures)."""
    return {"modules": KohyaFacts().lora_modules}


def test_full_flux_layout_at_rank_1(layout, tmp_path):
    path = fake_lora(tmp_path / "full.safetensors", layout["modules"], rank=1, alpha=1.0, metadata={**META, "ss_network_dim": "1"})
    info = inspect_lora(path)
    assert info.modules == 304 and info.rank == 1
    assert info.parameters == 4_786_176 * 1 + 304  # the facts' formula
    assert info.blocks["double_blocks"] == list(range(19)) and info.blocks["single_blocks"] == list(range(38))
    assert info.other_modules == 0 and info.dtype == "F16"


def test_rank_alpha_module_and_training_metadata(layout, tmp_path):
    some = dict(list(layout["modules"].items())[:20])
    info = inspect_lora(fake_lora(tmp_path / "l.safetensors", some, rank=4, alpha=2.0, metadata=META))
    assert (info.rank, info.alpha, info.module, info.base_model) == (4, 2.0, "networks.lora_flux", "flux1")
    assert info.training["steps"] == "1500" and info.training["learning_rate"] == "0.0004"
    assert info.training["sd_scripts_commit"] == SD_SCRIPTS_COMMIT
    assert info.warnings == []


def test_bf16_alpha_is_decoded_from_its_bytes(layout, tmp_path):
    some = dict(list(layout["modules"].items())[:3])
    info = inspect_lora(fake_lora(tmp_path / "b.safetensors", some, rank=4, alpha=32.0, alpha_bf16=True))
    assert info.alpha == 32.0


def test_warns_where_the_file_disagrees_with_the_config(layout, tmp_path):
    some = dict(list(layout["modules"].items())[:5])
    meta = {**META, "ss_seed": "7", "ss_learning_rate": "0.001", "ss_sd_scripts_commit_hash": "deadbeef"}
    info = inspect_lora(fake_lora(tmp_path / "l.safetensors", some, rank=4, alpha=2.0, metadata=meta), ExperimentConfig())
    text = " | ".join(info.warnings)
    for expected in ("rank 4 differs", "alpha 2 differs", "learning rate 0.001", "seed 7", "sd-scripts deadbeef"):
        assert expected in text


def test_cli_json_and_errors(layout, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    some = dict(list(layout["modules"].items())[:5])
    path = fake_lora(tmp_path / "l.safetensors", some, rank=4, alpha=2.0, metadata=META)
    assert main(["inspect", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rank"] == 4 and data["modules"] == 5
    assert main(["inspect", str(path)]) == 0
    assert "rank" in capsys.readouterr().out
    (tmp_path / "junk.safetensors").write_text("not a model")
    assert main(["inspect", str(tmp_path / "junk.safetensors")]) == 2
    assert main(["inspect", str(tmp_path / "missing.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "junk.safetensors" in err and "file not found" in err and "Traceback" not in err


def test_base_model_is_not_a_lora(tmp_path, capsys):
    from .fakes import fake_model

    path = fake_model(tmp_path / "flux.safetensors", "flux-dev")
    assert main(["inspect", str(path)]) == 2
    assert "not a LoRA" in capsys.readouterr().err
