"""The interop phases' own judgement: what counts as a key left behind, a missing checkout, a missing peft.

ComfyUI's and diffusers' loaders are the judges in the rehearsal; here their answers are fed in
by hand (a stand-in ``comfy`` package that logs the way ComfyUI logs), so these run in CI without
torch. The tests at the end use diffusers' real converter and run only where the train
environment (torch, diffusers) is installed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ascii_lora.config.models import ExperimentConfig
from ascii_lora.rehearse import interop
from ascii_lora.rehearse.interop_comfyui import (
    COMFYUI_COMMIT,
    COMFYUI_DIR,
    comfyui_problem,
    judge,
    lora_loads,
)
from ascii_lora.rehearse.interop_diffusers import InteropError

# -- ComfyUI's verdict --------------------------------------------------------------------------


def test_every_module_one_patch_and_no_warning_passes():
    judge(["loaded in 0.1 s"], patches=13, modules=13, patched=13)


@pytest.mark.parametrize(
    "seen, patches, modules, patched, words",
    [
        (["lora key not loaded: lora_unet_img_in.alpha"], 13, 13, 13, "left 1 LoRA key"),
        (["NOT LOADED diffusion_model.img_in.weight"], 13, 13, 13, "left 1 LoRA key"),
        ([], 12, 13, 12, "mapped 12 of the file's 13"),
        ([], 13, 13, 11, "applied 11 of 13"),
    ],
)
def test_a_key_comfyui_could_not_place_fails_the_phase(seen, patches, modules, patched, words):
    with pytest.raises(InteropError, match=words):
        judge(seen, patches, modules, patched)


FAKE_COMFY = {
    "comfy/__init__.py": "",
    "comfy/cli_args.py": "class _A:\n    cpu = False\nargs = _A()\n",
    "comfy/utils.py": (
        "def load_torch_file(path, safe_load=False):\n    import json\n    return json.load(open(path))\n"
    ),
    "comfy/lora.py": textwrap.dedent("""\
        import logging
        def model_lora_keys_unet(model, key_map={}):
            for k in model.keys:
                key_map["lora_unet_" + k.replace(".", "_")] = "diffusion_model." + k + ".weight"
            return key_map
        def load_lora(lora, to_load):
            patches, used = {}, set()
            for x in to_load:
                if x + ".lora_down.weight" in lora:
                    patches[to_load[x]] = ("lora", x)
                    used |= {x + ".lora_down.weight", x + ".lora_up.weight", x + ".alpha"}
            for x in lora:
                if x not in used:
                    logging.warning("lora key not loaded: {}".format(x))
            return patches
        """),
    "comfy/sd.py": textwrap.dedent("""\
        import comfy.lora
        class Flux: pass
        class Patcher:
            def __init__(self, keys):
                self.model = Flux(); self.model.keys = keys; self.patches = {}
        def load_diffusion_model(path):
            import json
            return Patcher(json.load(open(path))["layers"])
        def load_lora_for_models(model, clip, lora, strength_model, strength_clip):
            loaded = comfy.lora.load_lora(lora, comfy.lora.model_lora_keys_unet(model.model, {}))
            new = Patcher(model.model.keys); new.patches = dict(loaded)
            return new, None
        """),
}


@pytest.fixture
def fake_comfy(tmp_path, monkeypatch):
    """A ``comfy`` package that maps and logs the way ComfyUI's does, on a path of its own."""
    for rel, text in FAKE_COMFY.items():
        (tmp_path / "ComfyUI" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "ComfyUI" / rel).write_text(text)
    for name in [m for m in sys.modules if m == "comfy" or m.startswith("comfy.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "path", list(sys.path))
    flux = tmp_path / "flux.json"
    flux.write_text(json.dumps({"layers": ["double_blocks.0.img_attn.qkv", "single_blocks.0.linear1"]}))
    return tmp_path / "ComfyUI", flux


def _lora(path: Path, modules: list[str]) -> Path:
    keys = {f"lora_unet_{m}.{s}": 0 for m in modules for s in ("lora_down.weight", "lora_up.weight", "alpha")}
    path.write_text(json.dumps(keys))
    return path


def test_comfyui_s_path_passes_a_lora_whose_every_module_maps(fake_comfy, tmp_path):
    comfy_dir, flux = fake_comfy
    lora = _lora(tmp_path / "l.json", ["double_blocks_0_img_attn_qkv", "single_blocks_0_linear1"])
    assert "mapped all 2 LoRA modules" in lora_loads(lora, flux, comfy_dir)
    assert sys.modules["comfy.cli_args"].args.cpu is True, (
        "ComfyUI must be told it runs on the CPU before it probes CUDA"
    )


def test_a_module_comfyui_logs_as_not_loaded_fails(fake_comfy, tmp_path):
    comfy_dir, flux = fake_comfy
    lora = _lora(tmp_path / "l.json", ["double_blocks_0_img_attn_qkv", "img_in"])  # in_dims=... trains img_in
    with pytest.raises(InteropError, match="unloaded, first: lora key not loaded: lora_unet_img_in"):
        lora_loads(lora, flux, comfy_dir)


# -- the checkout and the environment -----------------------------------------------------------


def test_a_missing_comfyui_checkout_names_the_command_that_fetches_it(tmp_path):
    assert f"git submodule update --init --depth 1 {COMFYUI_DIR}" in comfyui_problem(tmp_path)


def test_a_comfyui_checkout_at_another_commit_is_refused(tmp_path):
    d = tmp_path / COMFYUI_DIR
    (d / "comfy").mkdir(parents=True)
    for f in ("lora.py", "sd.py"):
        (d / "comfy" / f).write_text("")
    subprocess.run(["git", "init", "-q", str(d)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(d),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ],
        check=True,
    )
    problem = comfyui_problem(tmp_path)
    assert problem and f"pins {COMFYUI_COMMIT[:12]}" in problem and "checkout" in problem


def test_the_pin_is_the_submodule_git_records():
    root = Path(__file__).resolve().parents[1]
    tree = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--stage", str(COMFYUI_DIR)], capture_output=True, text=True
    ).stdout
    assert tree.split()[:2] == ["160000", COMFYUI_COMMIT], tree
    assert f"path = {COMFYUI_DIR}" in (root / ".gitmodules").read_text()


def test_without_peft_the_diffusers_phase_says_how_to_get_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "peft" else real(name, *a)
    )
    with pytest.raises(InteropError, match=r"pip install -e '\.\[interop\]'"):
        interop._need_peft()


def test_standalone_interop_reports_every_phase_and_writes_its_summary(tmp_path):
    cfg = ExperimentConfig()
    lines = []
    ok = interop.run_interop(
        cfg,
        tmp_path,
        tmp_path,
        tmp_path / "cache",
        tmp_path / "run",
        report=lambda name, ok, s, detail: lines.append((name, ok, detail)),
    )
    summary = json.loads((tmp_path / interop.SUMMARY).read_text())
    assert (
        not ok
        and summary["ok"] is False
        and [p["name"] for p in summary["phases"]] == [n for n, _, _ in lines]
    )
    assert {n for n, _, _ in lines} == {
        "diffusers loads the LoRA",
        "diffusers maps the full-size plan",
        "ComfyUI loads the LoRA",
        "publish --dry-run: the model card",
    }
    comfy = next(d for n, _, d in lines if n.startswith("ComfyUI"))
    assert "git submodule update --init --depth 1" in comfy


# -- diffusers' converter (train environment only) ----------------------------------------------

needs_diffusers = pytest.mark.skipif(
    importlib.util.find_spec("diffusers") is None or importlib.util.find_spec("torch") is None,
    reason="diffusers' converter runs in the train environment (torch, diffusers)",
)


def _kohya(modules: dict[str, tuple[int, int]], rank: int = 4) -> dict:
    import torch

    out = {}
    for name, (fan_in, fan_out) in modules.items():
        out[f"{name}.lora_down.weight"] = torch.ones(rank, fan_in)
        out[f"{name}.lora_up.weight"] = torch.ones(fan_out, rank)
        out[f"{name}.alpha"] = torch.tensor(float(rank))
    return out


@needs_diffusers
def test_diffusers_converts_sd_scripts_double_block_keys_onto_transformer_layers():
    from ascii_lora.rehearse.interop_diffusers import convert, modules_of

    mods = modules_of(
        convert(
            _kohya(
                {
                    "lora_unet_double_blocks_0_img_attn_qkv": (8, 24),
                    "lora_unet_double_blocks_0_img_attn_proj": (8, 8),
                }
            )
        )
    )
    assert mods == {
        "transformer_blocks.0.attn.to_q": (4, 8, 8),
        "transformer_blocks.0.attn.to_k": (4, 8, 8),
        "transformer_blocks.0.attn.to_v": (4, 8, 8),
        "transformer_blocks.0.attn.to_out.0": (4, 8, 8),
    }


@needs_diffusers
@pytest.mark.parametrize("extra", ["lora_unet_img_in", "lora_unet_txt_in"])
def test_a_key_diffusers_cannot_place_fails_instead_of_being_dropped(extra):
    from ascii_lora.rehearse.interop_diffusers import convert

    with pytest.raises(InteropError, match="diffusers refuses the keys|unconverted"):
        convert(_kohya({"lora_unet_double_blocks_0_img_attn_proj": (8, 8), extra: (8, 8)}))


@needs_diffusers
def test_text_encoder_keys_the_transformer_would_ignore_fail():
    from ascii_lora.rehearse.interop_diffusers import convert

    with pytest.raises(InteropError, match="would be ignored by the FLUX transformer"):
        convert(
            _kohya(
                {
                    "lora_unet_double_blocks_0_img_attn_proj": (8, 8),
                    "lora_te1_text_model_encoder_layers_0_mlp_fc1": (8, 8),
                }
            )
        )


# -- [network] args: loadable, or refused when the config is read --------------------------------


@pytest.mark.parametrize(
    "item, words",
    [("in_dims=[4,0,0,0,4]", "img_in/txt_in"), ("split_qkv=True", "crashes"), ("train_t5xxl=True", "T5-XXL")],
)
def test_network_args_that_make_an_unloadable_lora_are_refused_when_the_config_is_read(item, words):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=words):
        ExperimentConfig.model_validate({"network": {"args": [item]}})


@pytest.mark.parametrize(
    "item",
    [
        "train_blocks=single",
        "train_blocks=double",
        "split_qkv=False",
        "train_t5xxl=False",
        "img_attn_dim=8",
        "train_double_block_indices=0-3",
        "rank_dropout=0.1",
    ],
)
def test_network_args_the_interop_phase_loads_are_accepted(item):
    assert ExperimentConfig.model_validate({"network": {"args": [item]}}).network.args == [item]


def test_each_sd_scripts_module_stands_for_as_many_diffusers_layers_as_it_fuses():
    from ascii_lora.rehearse.interop_diffusers import expected_layers

    keys = {
        f"lora_unet_{m}.lora_down.weight": 0
        for m in (
            "double_blocks_0_img_attn_qkv",
            "double_blocks_0_txt_attn_qkv",
            "double_blocks_0_img_mlp_0",
            "single_blocks_0_linear1",
            "single_blocks_0_linear2",
            "single_blocks_0_modulation_lin",
        )
    }
    assert expected_layers(keys) == 3 + 3 + 1 + 4 + 1 + 1


def test_comfyui_runs_in_a_process_of_its_own_and_its_verdict_comes_back(fake_comfy, tmp_path):
    from ascii_lora.rehearse.interop_comfyui import lora_loads_isolated

    comfy_dir, flux = fake_comfy
    good = _lora(tmp_path / "good.json", ["double_blocks_0_img_attn_qkv", "single_blocks_0_linear1"])
    assert "mapped all 2 LoRA modules" in lora_loads_isolated(good, flux, comfy_dir)
    assert "comfy" not in sys.modules, "ComfyUI was imported into the rehearsal's own process"
    bad = _lora(tmp_path / "bad.json", ["double_blocks_0_img_attn_qkv", "img_in"])
    with pytest.raises(InteropError, match="lora key not loaded: lora_unet_img_in"):
        lora_loads_isolated(bad, flux, comfy_dir)
