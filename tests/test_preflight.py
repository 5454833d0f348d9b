"""Pre-flight finds every GPU-hour-wasting mistake on the CPU box, one line and one fix each."""

from __future__ import annotations

from pathlib import Path

import pytest

from ascii_lora.cli import main
from ascii_lora.config.models import ExperimentConfig
from ascii_lora.dataset.writer import write_dataset
from ascii_lora.train.plan import SD_SCRIPTS_COMMIT, build_plan
from ascii_lora.train.preflight import check_model_file, estimate_run_bytes, run_preflight
from ascii_lora.train.probes import Gpu, Probes

from .fakes import fake_lora, fake_model

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024**3


def healthy_probes(**kw) -> Probes:
    base = dict(gpus=[Gpu("NVIDIA H100", 80.0)], torch_cuda=True, modules={"torch": True, "accelerate": True, "bitsandbytes": True},
                submodule_head=SD_SCRIPTS_COMMIT, free_bytes=500 * GIB, parse_argv=False)
    base.update(kw)
    return Probes(**base)


@pytest.fixture(scope="module")
def workstation(tmp_path_factory) -> Path:
    """A checkout with everything in place: model files, tokenizers, dataset, sd-scripts."""
    root = tmp_path_factory.mktemp("ws")
    for key, kind in (("flux1-dev", "flux-dev"), ("ae", "ae"), ("clip_l", "clip_l"), ("t5xxl_fp16", "t5xxl")):
        fake_model(root / "models" / f"{key}.safetensors", kind)
    for tok in ("openai_clip-vit-large-patch14", "google_t5-v1_1-xxl"):
        (root / "models" / "tokenizers" / tok).mkdir(parents=True)
    (root / "vendor" / "sd-scripts").mkdir(parents=True)
    (root / "vendor" / "sd-scripts" / "flux_train_network.py").write_text("# stand-in\n")
    write_dataset(ExperimentConfig().dataset.model_copy(update={"count": 7}), root / "data" / "ascii_training_data")
    return root


def results(cfg: ExperimentConfig, root: Path, probes: Probes) -> dict[str, object]:
    checks = run_preflight(cfg, build_plan(cfg, root), root, probes)
    return {c.name: c for c in checks}


def test_a_ready_workstation_passes_every_check(workstation):
    checks = results(ExperimentConfig(), workstation, healthy_probes())
    failed = {k: c.detail for k, c in checks.items() if c.ok is False}
    assert failed == {}
    assert "7 images" in checks["dataset"].detail


def test_no_gpu_is_refused_with_what_still_works(workstation):
    c = results(ExperimentConfig(), workstation, healthy_probes(gpus=[], torch_cuda=False))["CUDA GPU"]
    assert c.ok is False and "no CUDA GPU" in c.detail and "train --dry-run" in c.fix


def test_gpu_without_cuda_torch(workstation):
    c = results(ExperimentConfig(), workstation, healthy_probes(torch_cuda=False))["CUDA GPU"]
    assert c.ok is False and "torch cannot use CUDA" in c.detail and "setup-train" in c.fix


def test_card_too_small_for_profile_suggests_the_profile_that_fits(workstation):
    cfg = ExperimentConfig.model_validate({"hardware": {"vram_profile": "24gb"}})
    c = results(cfg, workstation, healthy_probes(gpus=[Gpu("RTX 4060 Ti", 16.0)]))["CUDA GPU"]
    assert c.ok is False and "needs 22" in c.detail and 'vram_profile = "16gb"' in c.fix


def test_fewer_gpus_than_configured(workstation):
    cfg = ExperimentConfig.model_validate({"hardware": {"num_gpus": 2}})
    assert results(cfg, workstation, healthy_probes())["CUDA GPU"].ok is False


def test_missing_bitsandbytes_for_8bit_optimizer(workstation):
    c = results(ExperimentConfig(), workstation, healthy_probes(modules={"torch": True, "accelerate": True, "bitsandbytes": False}))["bitsandbytes"]
    assert c.ok is False and "adamw" in c.fix
    cfg = ExperimentConfig.model_validate({"optimizer": {"type": "adamw"}})
    assert "bitsandbytes" not in results(cfg, workstation, healthy_probes(modules={"torch": True, "accelerate": True, "bitsandbytes": False}))


@pytest.mark.parametrize(
    "key,kind,message",
    [
        ("flux", "flux-schnell", "FLUX.1-schnell"),
        ("flux", "ae", "look like ae"),
        ("clip_l", "t5xxl", "look like t5xxl"),
        ("t5xxl", "clip_l", "look like clip_l"),
        ("ae", "flux-dev", "look like flux-dev"),
    ],
)
def test_model_file_given_to_the_wrong_flag(tmp_path, key, kind, message):
    c = check_model_file(key, fake_model(tmp_path / "m.safetensors", kind))
    assert c.ok is False and message in c.detail and f"[model] {key}" in c.fix


def test_lora_given_as_base_model(tmp_path):
    path = fake_lora(tmp_path / "l.safetensors", {"lora_unet_double_blocks_0_img_attn_qkv": {"in_features": 4, "out_features": 4}}, 2, 1.0)
    c = check_model_file("flux", path)
    assert c.ok is False and "LoRA" in c.detail


def test_truncated_and_non_safetensors_files(tmp_path):
    good = fake_model(tmp_path / "flux.safetensors", "flux-dev")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-10])
    assert "truncated" in check_model_file("flux", cut).detail
    html = tmp_path / "login.safetensors"
    html.write_text("<html>please log in</html>")
    assert check_model_file("flux", html).ok is False
    assert "missing" in check_model_file("flux", tmp_path / "nope.safetensors").detail


def test_dataset_missing_empty_or_broken(workstation, tmp_path):
    cfg = ExperimentConfig.model_validate({"dataset": {"out": str(tmp_path / "none")}})
    assert "make dataset" in results(cfg, workstation, healthy_probes())["dataset"].fix
    (tmp_path / "empty").mkdir()
    cfg = ExperimentConfig.model_validate({"dataset": {"out": str(tmp_path / "empty")}})
    assert "no PNG" in results(cfg, workstation, healthy_probes())["dataset"].detail
    broken = tmp_path / "broken"
    write_dataset(ExperimentConfig().dataset.model_copy(update={"count": 2}), broken)
    next(broken.glob("*.txt")).write_text("no trigger\n")
    cfg = ExperimentConfig.model_validate({"dataset": {"out": str(broken)}})
    c = results(cfg, workstation, healthy_probes())["dataset"]
    assert c.ok is False and "trigger" in c.detail


def test_submodule_missing_or_at_another_commit(workstation, tmp_path):
    c = results(ExperimentConfig(), workstation, healthy_probes(submodule_head="0" * 40))["sd-scripts"]
    assert c.ok is False and "git submodule update" in c.fix
    c = results(ExperimentConfig(), tmp_path, healthy_probes())["sd-scripts"]
    assert c.ok is False and "not initialised" in c.detail


def test_not_enough_disk_for_caches_and_checkpoints(workstation):
    cfg = ExperimentConfig()
    c = results(cfg, workstation, healthy_probes(free_bytes=1 * GIB))["free disk"]
    assert c.ok is False and "GiB" in c.detail
    assert estimate_run_bytes(cfg, 280) > 5 * GIB


def test_resume_without_saved_state(workstation):
    cfg = ExperimentConfig.model_validate({"training": {"resume": True}})
    c = results(cfg, workstation, healthy_probes())["resume state"]
    assert c.ok is False and "no saved state" in c.detail


def test_missing_tokenizer_cache_would_need_internet(workstation, tmp_path):
    cfg = ExperimentConfig.model_validate({"model": {"tokenizer_cache_dir": str(tmp_path / "tok")}})
    c = results(cfg, workstation, healthy_probes())["tokenizer cache"]
    assert c.ok is False and "setup-train" in c.fix


def test_make_train_on_this_cpu_box_refuses_without_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["train", "--config", str(ROOT / "configs" / "flux_ascii.toml")])
    out, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in out + err
    assert "nothing was launched" in err
    assert "FAIL" in out
