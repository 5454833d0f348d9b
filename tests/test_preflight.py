"""Pre-flight finds every GPU-hour-wasting mistake on the CPU box, one line and one fix each."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from ascii_lora.cli import main
from ascii_lora.config.models import ExperimentConfig
from ascii_lora.dataset.writer import write_dataset
from ascii_lora.train.kohya.plan import SD_SCRIPTS_COMMIT, TRAIN_SCRIPT, build_plan
from ascii_lora.train.preflight import (
    Check,
    check_gpu,
    check_model_file,
    check_sd_scripts,
    check_tokenizers,
    check_trainer_parses,
    check_writable,
    estimate_run_bytes,
    run_preflight,
)
from ascii_lora.train.probes import Gpu, Probes

from .fakes import fake_lora, fake_model

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024**3


def healthy_probes(**kw) -> Probes:
    base = dict(
        gpus=[Gpu("NVIDIA H100", 80.0)],
        torch_cuda=True,
        modules={"torch": True, "accelerate": True, "bitsandbytes": True},
        submodule_head=SD_SCRIPTS_COMMIT,
        free_bytes=500 * GIB,
        parse_argv=False,
    )
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
    write_dataset(
        ExperimentConfig().dataset.model_copy(update={"count": 7}), root / "data" / "ascii_training_data"
    )
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
    c = results(
        ExperimentConfig(),
        workstation,
        healthy_probes(modules={"torch": True, "accelerate": True, "bitsandbytes": False}),
    )["bitsandbytes"]
    assert c.ok is False and "adamw" in c.fix
    cfg = ExperimentConfig.model_validate({"optimizer": {"type": "adamw"}})
    assert "bitsandbytes" not in results(
        cfg, workstation, healthy_probes(modules={"torch": True, "accelerate": True, "bitsandbytes": False})
    )


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
    path = fake_lora(
        tmp_path / "l.safetensors",
        {"lora_unet_double_blocks_0_img_attn_qkv": {"in_features": 4, "out_features": 4}},
        2,
        1.0,
    )
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


# -- each check's own line: what was found and, on failure, the one fix ---------------------------------------

FACTS = json.loads((ROOT / "tests" / "fixtures" / "sd_scripts_facts.json").read_text())
PINNED = "48d368fa5577"  # the first 12 hex digits of the pin, as the user sees them
CPU_ONLY = "train on a CUDA workstation or pod; `ascii-lora plan` and `train --dry-run` work anywhere"


def gpu(cfg: dict, *cards: tuple[str, float], cuda: bool = True, source: str = "torch", **kw) -> Check:
    return check_gpu(ExperimentConfig.model_validate(cfg), cuda, [Gpu(n, g) for n, g in cards], source, **kw)


def test_gpu_check_lines():
    assert gpu({}) == Check("CUDA GPU", False, "no CUDA GPU is visible on this machine", CPU_ONLY)
    assert gpu({}, cuda=False) == Check("CUDA GPU", False, "no CUDA GPU is visible on this machine", CPU_ONLY)
    assert gpu({}, ("A", 24.0), ("B", 24.0), cuda=False, source="nvidia-smi") == Check(
        "CUDA GPU",
        False,
        "2 GPU(s) found by nvidia-smi, but torch cannot use CUDA",
        "run `make setup-train` to install a CUDA build of torch",
    )
    assert gpu(
        {}, ("A", 24.0), cuda=False, source="nvidia-smi", setup="run `make setup-simpletuner`"
    ).fix == ("run `make setup-simpletuner` to install a CUDA build of torch")
    assert gpu({"hardware": {"num_gpus": 3}}, ("A", 80.0), ("B", 80.0)) == Check(
        "CUDA GPU",
        False,
        "2 GPU(s) visible, [hardware] num_gpus = 3",
        "lower [hardware] num_gpus or check CUDA_VISIBLE_DEVICES",
    )
    # only the cards the run uses are listed, sizes in whole GiB
    assert gpu({"hardware": {"num_gpus": 2}}, ("H100", 79.6), ("A100", 40.2), ("T4", 15.0)) == Check(
        "CUDA GPU", True, "H100 80 GiB, A100 40 GiB"
    )


@pytest.mark.parametrize(
    "profile,card,fix",
    [
        # the largest profile the card holds is suggested (profile minima: 48gb+ 44, 24gb 22, 16gb 15, 12gb 11 GiB)
        ("48gb+", 30.0, 'set [hardware] vram_profile = "24gb"'),
        ("48gb+", 43.9, 'set [hardware] vram_profile = "24gb"'),
        ("24gb", 21.9, 'set [hardware] vram_profile = "16gb"'),
        ("24gb", 15.0, 'set [hardware] vram_profile = "16gb"'),  # exactly a profile's minimum fits it
        ("16gb", 14.0, 'set [hardware] vram_profile = "12gb"'),
        ("12gb", 10.9, "this card is too small for FLUX LoRA training"),
    ],
)
def test_a_card_below_the_profile_names_the_profile_that_fits(profile, card, fix):
    minimum = {"48gb+": 44, "24gb": 22, "16gb": 15, "12gb": 11}[profile]
    c = gpu({"hardware": {"vram_profile": profile}}, ("Card", card))
    assert c == Check("CUDA GPU", False, f"Card has {card:.0f} GiB, profile {profile} needs {minimum}", fix)


def test_a_card_exactly_at_the_profile_minimum_passes():
    assert gpu({"hardware": {"vram_profile": "24gb"}}, ("Card", 22.0)) == Check(
        "CUDA GPU", True, "Card 22 GiB"
    )
    # the first card that is too small is the one named
    c = gpu(
        {"hardware": {"vram_profile": "24gb", "num_gpus": 2}},
        ("Big", 80.0),
        ("Small", 12.0),
        ("Smaller", 11.0),
    )
    assert c.detail == "Small has 12 GiB, profile 24gb needs 22"


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_installed_module_lines(workstation):
    ok = by_name(
        run_preflight(
            ExperimentConfig(), build_plan(ExperimentConfig(), workstation), workstation, healthy_probes()
        )
    )
    assert ok["accelerate installed"] == Check(
        "accelerate installed", True, "accelerate found (launches the trainer)", ""
    )
    assert ok["torch installed"] == Check("torch installed", True, "torch found (runs the trainer)", "")
    assert ok["bitsandbytes"] == Check("bitsandbytes", True, "needed by optimizer AdamW8bit: found", "")
    none = healthy_probes(modules={"torch": False, "accelerate": False, "bitsandbytes": False})
    cfg = ExperimentConfig.model_validate({"optimizer": {"type": "lion8bit"}})
    bad = by_name(run_preflight(cfg, build_plan(cfg, workstation), workstation, none))
    assert bad["accelerate installed"] == Check(
        "accelerate installed", False, "accelerate missing (launches the trainer)", "run `make setup-train`"
    )
    assert bad["torch installed"] == Check(
        "torch installed", False, "torch missing (runs the trainer)", "run `make setup-train`"
    )
    assert bad["bitsandbytes"] == Check(
        "bitsandbytes",
        False,
        "needed by optimizer Lion8bit: missing",
        'run `make setup-train`, or set [optimizer] type = "adamw" (needs more VRAM)',
    )


def header_tensors(path: Path) -> int:
    """Tensors in a safetensors file, read from its JSON header by hand."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return len([k for k in json.loads(f.read(n)) if k != "__metadata__"])


def test_model_file_lines(tmp_path):
    path = fake_model(tmp_path / "flux1-dev.safetensors", "flux-dev")
    with open(path, "r+b") as f:  # a sparse tail: a 1.25 GiB file on the disk of a test
        f.truncate(int(1.25 * GIB))
    assert check_model_file("flux", path) == Check(
        "model flux", True, f"flux1-dev.safetensors: flux-dev, {header_tensors(path)} tensors, 1.2 GiB"
    )
    missing = tmp_path / "t5.safetensors"
    assert check_model_file("t5xxl", missing) == Check(
        "model t5xxl",
        False,
        f"{missing} is missing",
        "run `make setup-train` (downloads into models/) or fix [model] t5xxl",
    )
    html = tmp_path / "ae.safetensors"
    html.write_text("<html>please log in</html>")
    c = check_model_file("ae", html)
    assert (c.name, c.ok, c.fix) == ("model ae", False, "re-download it with `make setup-train`")
    assert c.detail.startswith(f"{html}: ") and len(c.detail) > len(f"{html}: ")


@pytest.mark.parametrize(
    "key,flag,kind,hint,want",
    [
        (
            "flux",
            "--pretrained_model_name_or_path",
            "flux-schnell",
            "this is FLUX.1-schnell; the kit trains FLUX.1-dev",
            "flux-dev",
        ),
        ("clip_l", "--clip_l", "t5xxl", "its tensors look like t5xxl", "clip_l"),
        ("t5xxl", "--t5xxl", "clip_l", "its tensors look like clip_l", "t5xxl"),
        ("ae", "--ae", "flux-dev", "its tensors look like flux-dev", "ae"),
    ],
)
def test_a_model_given_to_the_wrong_flag_names_the_flag_and_the_file_wanted(
    tmp_path, key, flag, kind, hint, want
):
    path = fake_model(tmp_path / "m.safetensors", kind)
    assert check_model_file(key, path) == Check(
        f"model {key}", False, f"{path} given to {flag}: {hint}", f"point [model] {key} at the {want} file"
    )


def test_a_lora_as_base_model_is_named_a_lora(tmp_path):
    path = fake_lora(
        tmp_path / "l.safetensors",
        {"lora_unet_double_blocks_0_img_attn_qkv": {"in_features": 4, "out_features": 4}},
        2,
        1.0,
    )
    assert (
        check_model_file("flux", path).detail
        == f"{path} given to --pretrained_model_name_or_path: this is a LoRA, not a base model file"
    )


def test_tokenizer_cache_lines(tmp_path):
    fix = "run `make setup-train` (pre-fills the cache) or give the trainer internet access"
    assert check_tokenizers(tmp_path) == Check(
        "tokenizer cache",
        False,
        f"{tmp_path} lacks openai_clip-vit-large-patch14, google_t5-v1_1-xxl: sd-scripts would download them at start",
        fix,
    )
    (tmp_path / "openai_clip-vit-large-patch14").mkdir()
    (tmp_path / "google_t5-v1_1-xxl").write_text("a file is not a tokenizer folder")
    assert (
        check_tokenizers(tmp_path).detail
        == f"{tmp_path} lacks google_t5-v1_1-xxl: sd-scripts would download them at start"
    )
    (tmp_path / "google_t5-v1_1-xxl").unlink()
    (tmp_path / "google_t5-v1_1-xxl").mkdir()
    assert check_tokenizers(tmp_path) == Check(
        "tokenizer cache", True, f"{tmp_path}: CLIP and T5 tokenizers present (offline start)"
    )


def test_dataset_lines(workstation, tmp_path):
    def dataset(out: Path) -> Check:
        cfg = ExperimentConfig.model_validate({"dataset": {"out": str(out)}})
        return results(cfg, workstation, healthy_probes())["dataset"]

    data = workstation / "data" / "ascii_training_data"
    assert results(ExperimentConfig(), workstation, healthy_probes())["dataset"] == Check(
        "dataset", True, f"7 images in {data}, all pass `ascii-lora validate`"
    )
    assert dataset(tmp_path / "none") == Check(
        "dataset",
        False,
        f"{tmp_path / 'none'} does not exist (sd-scripts would exit 0 having trained nothing)",
        "run `make dataset`",
    )
    (tmp_path / "empty").mkdir()
    assert dataset(tmp_path / "empty") == Check(
        "dataset",
        False,
        f"{tmp_path / 'empty'} holds no PNG images (sd-scripts would exit 0 having trained nothing)",
        "run `make dataset`",
    )
    broken = tmp_path / "broken"
    write_dataset(ExperimentConfig().dataset.model_copy(update={"count": 2}), broken)
    for caption in broken.glob("*.txt"):
        caption.write_text("no trigger\n")
    c = dataset(broken)
    assert (c.ok, c.fix) == (False, f"run `ascii-lora validate {broken}`, then `make dataset`")
    # each edited caption: no trigger word, and not the bytes the manifest recorded
    assert c.detail.startswith("4 problem(s), first: ") and "trigger" in c.detail
    (broken / "manifest.json").write_text("{not json")
    c = dataset(broken)
    assert c.ok is False and c.detail.startswith(
        f"1 problem(s), first: {broken / 'manifest.json'}: not a readable manifest"
    )


def test_the_dataset_must_have_the_geometry_the_config_trains(workstation, tmp_path):
    small = {"resolution": 384}
    drawn = tmp_path / "small"
    write_dataset(ExperimentConfig().dataset.model_copy(update={"count": 2, **small}), drawn)
    cfg = ExperimentConfig.model_validate({"dataset": {"out": str(drawn)}})  # trains at 1024 px
    c = results(cfg, workstation, healthy_probes())["dataset"]
    assert (c.ok, c.detail) == (
        False,
        "1 problem(s), first: drawn at 384 px with 16 px cells, [dataset] says 1024 px with 16 px cells",
    )
    # without its manifest the images themselves are measured against the config
    (drawn / "manifest.json").unlink()
    c = results(cfg, workstation, healthy_probes())["dataset"]
    assert c.ok is False and c.detail.startswith("2 problem(s), first: ") and "expected 1024x1024" in c.detail
    cfg = ExperimentConfig.model_validate(
        {"dataset": {"out": str(drawn), **small}, "training": small, "sample": {"width": 384, "height": 384}}
    )
    assert results(cfg, workstation, healthy_probes())["dataset"] == Check(
        "dataset", True, f"2 images in {drawn}, all pass `ascii-lora validate`"
    )


def test_sd_scripts_lines(tmp_path):
    script = tmp_path / "flux_train_network.py"
    assert check_sd_scripts(script, "48d368fa557731ad0488c07304dfeba8c07910eb") == Check(
        "sd-scripts", False, f"{script} is missing (submodule not initialised)", "run `make setup-train`"
    )
    script.write_text("# stand-in\n")
    assert check_sd_scripts(script, "48d368fa557731ad0488c07304dfeba8c07910eb") == Check(
        "sd-scripts", True, f"vendor/sd-scripts at pinned {PINNED}"
    )
    update = "run `git submodule update --init vendor/sd-scripts`"
    assert check_sd_scripts(script, "1" * 40) == Check(
        "sd-scripts", False, f"vendor/sd-scripts is at {'1' * 40}, pinned {PINNED}", update
    )
    assert check_sd_scripts(script, None) == Check(
        "sd-scripts", False, f"vendor/sd-scripts is at an unknown commit, pinned {PINNED}", update
    )


def test_output_dir_lines(tmp_path):
    run = tmp_path / "runs" / "a"
    assert check_writable(run) == Check("output dir", True, f"{run} writable")
    assert check_writable(run) == Check(
        "output dir", True, f"{run} writable"
    )  # a second look at an existing one
    assert run.is_dir() and list(run.iterdir()) == []  # the probe file is gone
    (tmp_path / "file").write_text("")
    assert check_writable(tmp_path / "file" / "run") == Check(
        "output dir",
        False,
        f"{tmp_path / 'file' / 'run'} is not writable (Not a directory)",
        "fix permissions or set [training] output_dir",
    )


@pytest.mark.skipif(
    not Path("/proc/self").is_dir(),
    reason="needs /proc: a folder that exists and no one, root included, may write into",
)
def test_an_existing_folder_we_cannot_write_into_fails(tmp_path):
    # the probe file is written into the run folder itself: that it exists proves nothing
    c = check_writable(Path("/proc"))
    assert (c.name, c.ok, c.fix) == ("output dir", False, "fix permissions or set [training] output_dir")
    assert c.detail.startswith("/proc is not writable (")


def test_free_disk_line_and_its_boundary(workstation):
    cfg = ExperimentConfig()
    need = estimate_run_bytes(cfg, 7)
    run = build_plan(cfg, workstation).run_dir
    c = results(cfg, workstation, healthy_probes(free_bytes=need))["free disk"]
    assert c == Check(
        "free disk", True, f"{need / GIB:.1f} GiB free at {run}, run needs ~{need / GIB:.1f} GiB", ""
    )
    c = results(cfg, workstation, healthy_probes(free_bytes=need - 1))["free disk"]
    assert (c.ok, c.fix) == (
        False,
        "free disk space, move [training] output_dir, or raise save_every_n_steps",
    )
    # without a usable dataset there is nothing to cache: the need is checkpoints and states alone
    corrupt = workstation / "corrupt"
    corrupt.mkdir(exist_ok=True)
    (corrupt / "manifest.json").write_text("{not json")
    for out in (workstation / "nowhere", workstation / "models", corrupt):
        cfg = ExperimentConfig.model_validate({"dataset": {"out": str(out)}})
        assert (
            results(cfg, workstation, healthy_probes(free_bytes=estimate_run_bytes(cfg, 0)))["free disk"].ok
            is True
        )


def test_resume_lines(workstation):
    cfg = ExperimentConfig()
    assert "resume state" not in results(cfg, workstation, healthy_probes())
    plan = build_plan(cfg, workstation)
    resumed = dataclasses.replace(plan, argv=[*plan.argv, "--resume", "runs/x/flux-step00000500-state"])
    c = by_name(run_preflight(cfg, resumed, workstation, healthy_probes()))["resume state"]
    assert c == Check("resume state", True, "resuming from runs/x/flux-step00000500-state", "")
    c = results(
        ExperimentConfig.model_validate({"training": {"resume": True}}), workstation, healthy_probes()
    )["resume state"]
    assert c == Check(
        "resume state", False, f"no saved state in {plan.run_dir}", "run without RESUME=1 to start fresh"
    )


def npz_bytes(**arrays) -> int:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return len(buf.getvalue())


def lora_bytes(dim: int) -> int:
    """A bf16 LoRA of FLUX: rank x (in + out) weights per module, the module shapes read from sd-scripts."""
    return sum(m["in_features"] + m["out_features"] for m in FACTS["lora_flux"]["modules"].values()) * dim * 2


def test_run_disk_estimate_counts_checkpoints_states_and_caches():
    def cfg(**training) -> ExperimentConfig:
        return ExperimentConfig.model_validate({"training": training, "network": {"dim": 16}})

    # no images: each save is the bf16 LoRA and a state of fp32 weights (2x) and optimizer moments (2x)
    per_save = lora_bytes(16) * 5
    assert (
        estimate_run_bytes(cfg(max_train_steps=3000, save_every_n_steps=500), 0) == 7 * per_save
    )  # 6 saves + the final one
    assert estimate_run_bytes(cfg(max_train_steps=3100, save_every_n_steps=500), 0) == 7 * per_save
    assert (
        estimate_run_bytes(cfg(max_train_steps=100, save_every_n_steps=500), 0) == 2 * per_save
    )  # never less than one save
    # caches grow with the images, one latent and one text encoding each, only when cached on disk
    both, latents, texts, none = (
        cfg(cache_latents_to_disk=a, cache_text_encoder_outputs=b, max_train_steps=10, save_every_n_steps=10)
        for a, b in ((True, True), (True, False), (False, True), (False, False))
    )
    assert estimate_run_bytes(none, 100) == estimate_run_bytes(none, 0) == 2 * per_save
    latent = (estimate_run_bytes(latents, 100) - 2 * per_save) / 100
    text = (estimate_run_bytes(texts, 100) - 2 * per_save) / 100
    assert estimate_run_bytes(both, 100) - 2 * per_save == 100 * (latent + text)
    # each at least the .npz sd-scripts writes (strategy_flux.py at the pin), at most 4 KiB more
    assert (
        npz_bytes(latents_1024x1024=np.zeros((16, 128, 128), np.float32))
        <= latent
        <= npz_bytes(latents_1024x1024=np.zeros((16, 128, 128), np.float32)) + 4096
    )
    te_file = npz_bytes(
        l_pooled=np.zeros(768, np.float32),
        t5_out=np.zeros((512, 4096), np.float32),
        txt_ids=np.zeros((512, 3), np.float32),
        t5_attn_mask=np.zeros(512, np.int64),
        apply_t5_attn_mask=np.array(False),
    )
    assert te_file <= text <= te_file + 4096
    assert te_file <= 8_403_205 <= text  # bytes per caption measured in a rehearsal at the pinned commit
    assert type(estimate_run_bytes(both, 100)) is int  # bytes
    small = ExperimentConfig.model_validate(
        {
            "dataset": {"resolution": 512},
            "training": {
                "resolution": 512,
                "cache_text_encoder_outputs": False,
                "max_train_steps": 10,
                "save_every_n_steps": 10,
            },
            "network": {"dim": 16},
        }
    )
    raw_latent = 16 * 128 * 128 * 4  # the latent's own bytes at 1024 px; a quarter of them at 512
    assert (estimate_run_bytes(small, 100) - 2 * per_save) / 100 == latent - raw_latent + raw_latent // 4


STANDIN = """
import json, os, sys
def setup_parser():
    class Parser:
        def parse_args(self, args):
            {body}
    return Parser()
"""


def parses(tmp_path: Path, body: str):
    """check_trainer_parses against a stand-in flux_train_network.py whose parse_args runs ``body``."""
    root = tmp_path / "root"
    (root / TRAIN_SCRIPT).parent.mkdir(parents=True, exist_ok=True)
    (root / TRAIN_SCRIPT).write_text(STANDIN.replace("{body}", body))
    cfg = ExperimentConfig()
    plan = build_plan(cfg, root)
    return check_trainer_parses(root, plan), plan


def test_trainer_parser_lines(tmp_path):
    c, _ = parses(tmp_path, "pass")
    assert c == Check("trainer parses argv", True, "flux_train_network.setup_parser() accepts every flag")
    c, _ = parses(tmp_path, "sys.exit('unrecognized arguments: --fp8_base')")
    assert c == Check(
        "trainer parses argv",
        False,
        "flux_train_network.setup_parser() refused: unrecognized arguments: --fp8_base",
        "run `make setup-train`; if it persists, report it",
    )
    c, _ = parses(tmp_path, "sys.exit(1)")
    assert c.detail == "flux_train_network.setup_parser() refused: no output"
    # it is given exactly the arguments after the script, from the checkout's root
    c, plan = parses(tmp_path, "sys.exit(json.dumps([os.getcwd(), args]))")
    assert json.loads(c.detail.removeprefix("flux_train_network.setup_parser() refused: ")) == [
        str(tmp_path / "root"),
        plan.trainer_args,
    ]


def test_a_parser_that_hangs_fails_the_check(tmp_path, monkeypatch):
    import ascii_lora.train.preflight as preflight

    monkeypatch.setattr(preflight, "PARSE_TIMEOUT_S", 0.5)
    c, _ = parses(tmp_path, "import time; time.sleep(30)")
    assert c == Check(
        "trainer parses argv",
        False,
        "sd-scripts' parser did not answer in 0.5 s",
        "check the sd-scripts install",
    )


def test_a_warning_while_importing_the_trainer_is_no_refusal(tmp_path, monkeypatch):
    # a user's PYTHONWARNINGS=error must not turn torch's or diffusers' deprecation warnings into a refusal
    monkeypatch.setenv("PYTHONWARNINGS", "error")
    c, _ = parses(tmp_path, "import warnings; warnings.warn('torch.cuda.amp is deprecated', FutureWarning)")
    assert c.ok is True


def test_the_parser_is_asked_only_when_the_pinned_sd_scripts_is_there(workstation, tmp_path):
    assert "trainer parses argv" not in results(
        ExperimentConfig(), workstation, healthy_probes(parse_argv=False)
    )
    assert "trainer parses argv" not in results(
        ExperimentConfig(), workstation, healthy_probes(parse_argv=True, submodule_head="0" * 40)
    )
    names = [
        c.name
        for c in run_preflight(
            ExperimentConfig(),
            build_plan(ExperimentConfig(), workstation),
            workstation,
            healthy_probes(parse_argv=True),
        )
    ]
    assert names == [
        "CUDA GPU",
        "accelerate installed",
        "torch installed",
        "bitsandbytes",
        "model flux",
        "model clip_l",
        "model t5xxl",
        "model ae",
        "tokenizer cache",
        "dataset",
        "sd-scripts",
        "trainer parses argv",
        "output dir",
        "free disk",
    ]
