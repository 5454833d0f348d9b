"""Pre-flight: everything that can make a FLUX run die after minutes of model loading, checked first.

Each check is one line: what was found and, when it fails, the fix. The machine is asked
through ``probes.Probes``; this module only judges the answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..config.models import VRAM_PROFILES, ExperimentConfig
from ..errors import UserError
from .kohya.plan import SD_SCRIPTS_COMMIT, SD_SCRIPTS_DIR, TRAIN_SCRIPT, Plan
from .probes import GIB, Probes
from .safetensors_header import NotSafetensors, model_kind, read_header


@dataclass
class Check:
    name: str
    ok: bool | None  # None: not applicable / skipped
    detail: str
    fix: str = ""


def estimate_run_bytes(cfg: ExperimentConfig, images: int) -> int:
    """Disk a run fills: latent + text-encoder caches, LoRA checkpoints and resumable states."""
    side = cfg.training.side
    latent = 16 * (side // 8) ** 2 * 4 + 4096  # fp32 latents in .npz, per image
    # sd-scripts stores text-encoder outputs as float32 (T5 512 x 4096, CLIP pooled 768, txt_ids
    # 512 x 3, the mask): measured 8,403,205 bytes per caption in a rehearsal at the pinned commit
    te = (512 * 4096 + 768 + 512 * 3) * 4 + 512 * 8 + 4096
    lora = 4_786_176 * cfg.network.dim * 2  # 304 FLUX modules, bf16
    saves = max(1, cfg.training.max_train_steps // cfg.training.save_every_n_steps) + 1
    state = lora * 2 + lora * 2  # fp32 weights + 8-bit-or-better optimizer moments
    caches = images * (
        (latent if cfg.training.cache_latents_to_disk else 0)
        + (te if cfg.training.cache_text_encoder_outputs else 0)
    )
    return caches + saves * (lora + state)


EXPECTED_KIND = {"flux": "flux-dev", "clip_l": "clip_l", "t5xxl": "t5xxl", "ae": "ae"}
FLAG_OF = {"flux": "--pretrained_model_name_or_path", "clip_l": "--clip_l", "t5xxl": "--t5xxl", "ae": "--ae"}


def check_model_file(key: str, path: Path) -> Check:
    name = f"model {key}"
    if not path.exists():
        return Check(
            name,
            False,
            f"{path} is missing",
            "run `make setup-train` (downloads into models/) or fix [model] " + key,
        )
    try:
        header = read_header(path)
    except NotSafetensors as e:
        return Check(name, False, f"{path}: {e}", "re-download it with `make setup-train`")
    kind = model_kind(header)
    want = EXPECTED_KIND[key]
    if kind != want:
        hint = {
            "flux-schnell": "this is FLUX.1-schnell; the kit trains FLUX.1-dev",
            "lora": "this is a LoRA, not a base model file",
        }.get(kind, f"its tensors look like {kind}")
        return Check(
            name, False, f"{path} given to {FLAG_OF[key]}: {hint}", f"point [model] {key} at the {want} file"
        )
    size = path.stat().st_size / GIB
    return Check(name, True, f"{path.name}: {want}, {len(header.tensors)} tensors, {size:.1f} GiB")


def check_tokenizers(cache: Path) -> Check:
    needed = ["openai_clip-vit-large-patch14", "google_t5-v1_1-xxl"]
    missing = [n for n in needed if not (cache / n).is_dir()]
    if missing:
        return Check(
            "tokenizer cache",
            False,
            f"{cache} lacks {', '.join(missing)}: sd-scripts would download them at start",
            "run `make setup-train` (pre-fills the cache) or give the trainer internet access",
        )
    return Check("tokenizer cache", True, f"{cache}: CLIP and T5 tokenizers present (offline start)")


def check_gpu(
    cfg: ExperimentConfig, torch_cuda: bool, gpus: list, source: str, setup: str = "run `make setup-train`"
) -> Check:
    """Enough CUDA GPUs of the profile's size, seen by the trainer's own torch (any trainer)."""
    prof = cfg.hardware.profile
    if not gpus:
        return Check(
            "CUDA GPU",
            False,
            "no CUDA GPU is visible on this machine",
            "train on a CUDA workstation or pod; `ascii-lora plan` and `train --dry-run` work anywhere",
        )
    elif not torch_cuda:
        return Check(
            "CUDA GPU",
            False,
            f"{len(gpus)} GPU(s) found by {source}, but torch cannot use CUDA",
            f"{setup} to install a CUDA build of torch",
        )
    else:
        # only the cards the run uses (accelerate takes the first num_gpus): a small spare card is no reason to refuse
        small = [g for g in gpus[: cfg.hardware.num_gpus] if g.total_gib < prof.min_vram_gib]
        if len(gpus) < cfg.hardware.num_gpus:
            return Check(
                "CUDA GPU",
                False,
                f"{len(gpus)} GPU(s) visible, [hardware] num_gpus = {cfg.hardware.num_gpus}",
                "lower [hardware] num_gpus or check CUDA_VISIBLE_DEVICES",
            )
        elif small:
            g = small[0]
            smaller = [
                k
                for k, v in sorted(VRAM_PROFILES.items(), key=lambda kv: -kv[1].min_vram_gib)
                if v.min_vram_gib <= g.total_gib
            ]
            return Check(
                "CUDA GPU",
                False,
                f"{g.name} has {g.total_gib:.0f} GiB, profile {cfg.hardware.vram_profile} needs {prof.min_vram_gib:.0f}",
                f'set [hardware] vram_profile = "{smaller[0]}"'
                if smaller
                else "this card is too small for FLUX LoRA training",
            )
        else:
            return Check(
                "CUDA GPU",
                True,
                ", ".join(f"{g.name} {g.total_gib:.0f} GiB" for g in gpus[: cfg.hardware.num_gpus]),
            )


def run_preflight(cfg: ExperimentConfig, plan: Plan, root: Path, probes: Probes | None = None) -> list[Check]:
    probes = probes or Probes()
    checks: list[Check] = [check_gpu(cfg, *probes.cuda())]
    checks += _package_checks(cfg, probes)
    checks += _model_checks(plan)
    dataset, images = _dataset_check(cfg, plan)
    checks.append(dataset)
    checks.append(check_sd_scripts(root / TRAIN_SCRIPT, probes.head(root)))
    if checks[-1].ok and probes.parse_argv:
        checks.append(check_trainer_parses(root, plan))
    checks.append(check_writable(plan.run_dir))
    checks.append(_disk_check(cfg, plan, probes, images))
    checks += _resume_checks(cfg, plan)
    return checks


def _package_checks(cfg: ExperimentConfig, probes: Probes) -> list[Check]:
    """The Python packages the trainer imports: accelerate, torch, and bitsandbytes for an 8-bit optimizer."""
    checks = []
    for mod, why, fix in (
        ("accelerate", "launches the trainer", "run `make setup-train`"),
        ("torch", "runs the trainer", "run `make setup-train`"),
    ):
        ok = probes.has_module(mod)
        checks.append(
            Check(f"{mod} installed", ok, f"{mod} {'found' if ok else 'missing'} ({why})", "" if ok else fix)
        )
    if cfg.optimizer.type.endswith("8bit"):
        ok = probes.has_module("bitsandbytes")
        checks.append(
            Check(
                "bitsandbytes",
                ok,
                f"needed by optimizer {cfg.optimizer.kohya_type}: {'found' if ok else 'missing'}",
                "" if ok else 'run `make setup-train`, or set [optimizer] type = "adamw" (needs more VRAM)',
            )
        )
    return checks


def _model_checks(plan: Plan) -> list[Check]:
    """Each model file the argv names, and the tokenizer cache."""
    checks = [check_model_file(key, Path(plan.argv[plan.argv.index(FLAG_OF[key]) + 1])) for key in FLAG_OF]
    checks.append(check_tokenizers(Path(plan.argv[plan.argv.index("--tokenizer_cache_dir") + 1])))
    return checks


def _dataset_check(cfg: ExperimentConfig, plan: Plan) -> tuple[Check, int]:
    """The dataset the run trains on, and how many images it holds (0 when it fails)."""
    image_dir = Path(plan.dataset_config["datasets"][0]["subsets"][0]["image_dir"])
    if not image_dir.is_dir():
        return Check(
            "dataset",
            False,
            f"{image_dir} does not exist (sd-scripts would exit 0 having trained nothing)",
            "run `make dataset`",
        ), 0
    images, problems = _dataset_problems(cfg, image_dir)
    if problems:
        return Check(
            "dataset",
            False,
            f"{len(problems)} problem(s), first: {problems[0]}",
            f"run `ascii-lora validate {image_dir}`, then `make dataset`",
        ), images
    if images == 0:
        return Check(
            "dataset",
            False,
            f"{image_dir} holds no PNG images (sd-scripts would exit 0 having trained nothing)",
            "run `make dataset`",
        ), images
    return Check("dataset", True, f"{images} images in {image_dir}, all pass `ascii-lora validate`"), images


def _dataset_problems(cfg: ExperimentConfig, image_dir: Path) -> tuple[int, list[str]]:
    """(images, problems) of an existing dataset folder, a geometry other than the config's first."""
    from ..dataset.manifest import read_manifest
    from ..dataset.validate import validate_dir

    try:
        images, listed = validate_dir(image_dir, cfg.dataset.resolution, cfg.dataset.cell_size)
        problems = [str(p) for p in listed]  # as each is reported: "file: message"
        drawn = read_manifest(image_dir)
    except UserError as e:  # a corrupt manifest: one failed check, the report goes on
        images, problems, drawn = 0, [str(e)], None
    # validate_dir checks a dataset against the geometry it was drawn with; the run trains at the config's
    if drawn is not None and (drawn.config.resolution, drawn.config.cell_size) != (
        cfg.dataset.resolution,
        cfg.dataset.cell_size,
    ):
        problems = [
            f"drawn at {drawn.config.resolution} px with {drawn.config.cell_size} px cells, [dataset] says "
            f"{cfg.dataset.resolution} px with {cfg.dataset.cell_size} px cells",
            *problems,
        ]
    return images, problems


def _disk_check(cfg: ExperimentConfig, plan: Plan, probes: Probes, images: int) -> Check:
    """Free disk at the run directory against what the run will write."""
    need = estimate_run_bytes(cfg, images)
    free = probes.free(plan.run_dir)
    return Check(
        "free disk",
        free >= need,
        f"{free / GIB:.1f} GiB free at {plan.run_dir}, run needs ~{need / GIB:.1f} GiB",
        "" if free >= need else "free disk space, move [training] output_dir, or raise save_every_n_steps",
    )


def _resume_checks(cfg: ExperimentConfig, plan: Plan) -> list[Check]:
    """A resume asked for (or planned) has a saved state to resume from."""
    if not (cfg.training.resume or "--resume" in plan.argv):
        return []
    found = "--resume" in plan.argv
    return [
        Check(
            "resume state",
            found,
            f"resuming from {plan.argv[plan.argv.index('--resume') + 1]}"
            if found
            else f"no saved state in {plan.run_dir}",
            "" if found else "run without RESUME=1 to start fresh",
        )
    ]


def check_sd_scripts(script: Path, head: str | None) -> Check:
    """The script we will run is there, in the submodule at the pinned commit."""
    if not script.exists():
        return Check(
            "sd-scripts", False, f"{script} is missing (submodule not initialised)", "run `make setup-train`"
        )
    if head != SD_SCRIPTS_COMMIT:
        return Check(
            "sd-scripts",
            False,
            f"vendor/sd-scripts is at {head or 'an unknown commit'}, pinned {SD_SCRIPTS_COMMIT[:12]}",
            "run `git submodule update --init vendor/sd-scripts`",
        )
    return Check("sd-scripts", True, f"vendor/sd-scripts at pinned {SD_SCRIPTS_COMMIT[:12]}")


def check_writable(run_dir: Path) -> Check:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write-test-"):
            pass
    except OSError as e:
        return Check(
            "output dir",
            False,
            f"{run_dir} is not writable ({e.strerror})",
            "fix permissions or set [training] output_dir",
        )
    return Check("output dir", True, f"{run_dir} writable")


PARSE_SNIPPET = """
import json, sys
sys.path.insert(0, sys.argv[1])
sys.argv = ["flux_train_network.py"]
import flux_train_network
parser = flux_train_network.setup_parser()
parser.parse_args(json.loads(sys.stdin.read()))
"""


PARSE_TIMEOUT_S = 300  # importing sd-scripts imports torch: tens of seconds on a cold disk


def check_trainer_parses(root: Path, plan: Plan) -> Check:
    """Feed our argv to sd-scripts' own parser (imports torch, loads no model).

    Warnings are silenced: a user's PYTHONWARNINGS=error would turn an import-time deprecation
    warning of torch or diffusers into a refusal that says nothing about our flags.
    """
    try:
        r = subprocess.run(
            [sys.executable, "-c", PARSE_SNIPPET, str(root / SD_SCRIPTS_DIR)],
            input=json.dumps(plan.trainer_args),
            capture_output=True,
            text=True,
            timeout=PARSE_TIMEOUT_S,
            cwd=root,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    except subprocess.TimeoutExpired:
        return Check(
            "trainer parses argv",
            False,
            f"sd-scripts' parser did not answer in {PARSE_TIMEOUT_S:g} s",
            "check the sd-scripts install",
        )
    if r.returncode:
        tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
        return Check(
            "trainer parses argv",
            False,
            f"flux_train_network.setup_parser() refused: {tail}",
            "run `make setup-train`; if it persists, report it",
        )
    return Check("trainer parses argv", True, "flux_train_network.setup_parser() accepts every flag")
