"""`ascii-lora inspect` reads a LoRA from its header alone, laid out as sd-scripts saves it."""

from __future__ import annotations

import json

import pytest

from ascii_lora.cli import main
from ascii_lora.config.models import ExperimentConfig
from ascii_lora.train.kohya.plan import SD_SCRIPTS_COMMIT
from ascii_lora.train.lora_inspect import inspect_lora

from .fakes import fake_lora
from .kohya_facts import KohyaFacts

META = {
    "ss_network_dim": "4",
    "ss_network_alpha": "2.0",
    "ss_network_module": "networks.lora_flux",
    "ss_base_model_version": "flux1",
    "ss_steps": "1500",
    "ss_learning_rate": "0.0004",
    "ss_seed": "42",
    "ss_sd_scripts_commit_hash": SD_SCRIPTS_COMMIT,
    "ss_optimizer": "bitsandbytes.optim.adamw.AdamW8bit",
    "modelspec.architecture": "flux-1-dev/lora",
}


@pytest.fixture(scope="module")
def layout() -> dict:
    """networks.lora_flux's modules on FLUX.1-dev, read from the pinned sd-scripts (tests/fixtures)."""
    return {"modules": KohyaFacts().lora_modules}


def test_full_flux_layout_at_rank_1(layout, tmp_path):
    path = fake_lora(
        tmp_path / "full.safetensors",
        layout["modules"],
        rank=1,
        alpha=1.0,
        metadata={**META, "ss_network_dim": "1"},
    )
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
    info = inspect_lora(
        fake_lora(tmp_path / "l.safetensors", some, rank=4, alpha=2.0, metadata=meta), ExperimentConfig()
    )
    text = " | ".join(info.warnings)
    for expected in (
        "rank 4 differs",
        "alpha 2 differs",
        "learning rate 0.001",
        "seed 7",
        "sd-scripts deadbeef",
    ):
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
    err = capsys.readouterr().err
    assert (
        "flux.safetensors" in err
        and ": no lora_down (sd-scripts) or lora_A (diffusers/PEFT) weights: not a LoRA file" in err
    )


def _matching_meta(cfg: ExperimentConfig) -> dict[str, str]:
    return {
        **META,
        "ss_network_dim": str(cfg.network.dim),
        "ss_network_alpha": str(cfg.network.alpha),
        "ss_learning_rate": repr(cfg.optimizer.learning_rate),
        "ss_seed": str(cfg.training.seed),
    }


def test_a_lora_trained_as_configured_draws_no_warning(layout, tmp_path):
    cfg = ExperimentConfig()
    some = dict(list(layout["modules"].items())[:4])
    path = fake_lora(
        tmp_path / "l.safetensors",
        some,
        rank=cfg.network.dim,
        alpha=cfg.network.alpha + 0.0004,
        metadata=_matching_meta(cfg),
    )
    info = inspect_lora(path, cfg)
    assert info.warnings == [] and info.file == str(path)


def test_every_disagreement_is_named(layout, tmp_path):
    cfg = ExperimentConfig()
    mods = list(layout["modules"].items())
    save_file = __import__("safetensors.numpy", fromlist=["save_file"]).save_file
    import numpy as np

    tensors = {}
    for i, (name, shape) in enumerate(mods[:3]):
        rank = 8 if i < 2 else 4  # mixed ranks, 8 the most common
        tensors[f"{name}.lora_down.weight"] = np.zeros(
            (rank, shape["in_features"]), dtype=np.float32 if i == 2 else np.float16
        )
        tensors[f"{name}.lora_up.weight"] = np.zeros((shape["out_features"], rank), dtype=np.float16)
    tensors["lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight"] = np.zeros(
        (8, 768), dtype=np.float16
    )
    meta = {
        **_matching_meta(cfg),
        "ss_network_alpha": "16",
        "ss_network_module": "networks.lora",
        "ss_sd_scripts_commit_hash": "0123456789abcdef0123456789abcdef01234567",
        "ss_base_model_version": "sdxl",
    }
    (tmp_path / "x.safetensors").write_bytes(b"")
    save_file(tensors, str(tmp_path / "x.safetensors"), metadata=meta)
    info = inspect_lora(tmp_path / "x.safetensors", cfg)
    assert (info.rank, info.ranks, info.alpha, info.dtype, info.other_modules) == (
        8,
        [4, 8],
        16.0,
        "F16",
        1,
    )  # alpha from metadata
    assert info.warnings == [
        "modules have different ranks [4, 8]",
        "base model version 'sdxl', not a FLUX.1 LoRA",
        "trained with sd-scripts 0123456789ab, the kit pins 48d368fa5577",
        "rank 8 differs from config [network] dim 64",
        "alpha 16 differs from config [network] alpha 32",
        "module networks.lora differs from config [network] module networks.lora_flux",
        "1 modules outside the FLUX transformer blocks (text encoder trained?)",
    ]
    text_encoders_too = ExperimentConfig.model_validate({"network": {"train_unet_only": False}})
    assert not any(
        "outside the FLUX" in w for w in inspect_lora(tmp_path / "x.safetensors", text_encoders_too).warnings
    )


def _peft(path, meta: dict[str, str]):
    import numpy as np
    from safetensors.numpy import save_file

    tensors = {}
    for prefix in (
        "transformer.transformer_blocks.0.attn.to_q",
        "transformer.single_transformer_blocks.3.proj_out",
        "text_proj",
        "context_embedder",
    ):
        tensors[f"{prefix}.lora_A.weight"] = np.zeros((16, 8), dtype=np.float16)
        tensors[f"{prefix}.lora_B.weight"] = np.zeros((8, 16), dtype=np.float16)
    save_file(tensors, str(path), metadata=meta)
    return inspect_lora(path)


def test_peft_alpha_comes_from_the_adapter_config_or_stays_unknown(tmp_path):
    adapter = {"transformer.r": 16, "transformer.lora_alpha": 8, "other.lora_alpha": "not a number"}
    assert _peft(tmp_path / "a.safetensors", {"lora_adapter_metadata": json.dumps(adapter)}).alpha == 8.0
    assert (
        _peft(tmp_path / "b.safetensors", {"lora_adapter_metadata": json.dumps({"lora_alpha": 4})}).alpha
        == 4.0
    )
    assert _peft(tmp_path / "c.safetensors", {"lora_adapter_metadata": json.dumps({"r": 16})}).alpha is None
    assert _peft(tmp_path / "d.safetensors", {"format": "pt"}).alpha is None
    assert _peft(tmp_path / "e.safetensors", {"lora_adapter_metadata": "{broken"}).alpha is None
    both = {"ss_network_alpha": "2", "lora_adapter_metadata": json.dumps({"lora_alpha": 4})}
    assert _peft(tmp_path / "f.safetensors", both).alpha == 2.0  # sd-scripts' own record wins
    info = _peft(tmp_path / "g.safetensors", {})
    assert info.other_modules == 2 and info.blocks == {"double_blocks": [0], "single_blocks": [3]}


def test_alpha_one_off_the_config_is_a_disagreement(layout, tmp_path):
    some = dict(list(layout["modules"].items())[:2])
    info = inspect_lora(
        fake_lora(tmp_path / "l.safetensors", some, rank=64, alpha=33.0, metadata=META), ExperimentConfig()
    )
    assert "alpha 33 differs from config [network] alpha 32" in info.warnings
