"""Pre-flight for a SimpleTuner run: what would make it die (or quietly do the wrong thing) after model loading.

Same shape as preflight.py (one line per check, with its fix), but asked of SimpleTuner's own
environment: its torch decides whether CUDA is usable, its packages are the pinned ones, and its
own config loader must accept the planned files with our values intact.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ...config.models import ExperimentConfig
from ..preflight import Check, check_gpu, check_model_file, check_writable, estimate_run_bytes
from ..probes import GIB, Gpu, Probes
from .plan import ENV_DIR, FLUX_DIFFUSERS_REPO, SIMPLETUNER_VERSION, SimpleTunerPlan, checkpoint_dirs

ACCEPT_SCRIPT = Path(__file__).with_name("accept.py")

REPORT_SNIPPET = """
import importlib.metadata as m, json
out = {}
for p in ("simpletuner", "bitsandbytes", "torch", "diffusers", "torchao"):
    try:
        out[p] = m.version(p)
    except m.PackageNotFoundError:
        out[p] = None
out["cuda"], out["gpus"] = False, []
try:
    import torch
    if torch.cuda.is_available():
        out["cuda"] = True
        out["gpus"] = [[torch.cuda.get_device_name(i), torch.cuda.get_device_properties(i).total_memory / 1024**3]
                       for i in range(torch.cuda.device_count())]
except Exception:
    pass
print(json.dumps(out))
"""


@dataclass
class SimpleTunerProbes:
    """What SimpleTuner's environment offers. None: ask the real one; tests pass their own."""

    report: dict | None = None  # package versions, cuda, gpus of the environment
    accept: tuple[bool, str] | None = None  # (accepted, last line) of accept.py
    hf_cache: bool | None = None
    machine: Probes = field(default_factory=Probes)

    def env_report(self, python: Path) -> dict | None:
        if self.report is not None:
            return self.report
        if not python.exists():
            return None
        r = subprocess.run([str(python), "-c", REPORT_SNIPPET], capture_output=True, text=True, timeout=300)
        return (
            json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 and r.stdout.strip() else None
        )

    def accepts(self, python: Path, run_dir: Path) -> tuple[bool, str]:
        if self.accept is not None:
            return self.accept
        try:
            r = subprocess.run(
                [str(python), str(ACCEPT_SCRIPT), str(run_dir)],
                capture_output=True,
                text=True,
                timeout=600,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
        except subprocess.TimeoutExpired:
            return False, "its loader did not answer in 10 minutes"
        lines = [ln for ln in (r.stdout + r.stderr).strip().splitlines() if ln.strip()]
        fails = [ln for ln in lines if ln.startswith("FAIL")]
        return r.returncode == 0, (fails[0] if fails else lines[-1] if lines else "no output")

    def flux_parts_cached(self) -> bool:
        """The diffusers parts SimpleTuner loads from the Hub (text encoders, tokenizers, VAE) are in the HF cache."""
        if self.hf_cache is not None:
            return self.hf_cache
        hub = Path(
            os.environ.get("HF_HUB_CACHE")
            or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
        )
        repo = hub / ("models--" + FLUX_DIFFUSERS_REPO.replace("/", "--")) / "snapshots"
        return any(
            (snap / "vae" / "config.json").exists() and (snap / "text_encoder_2").is_dir()
            for snap in repo.glob("*")
        )


_SETUP = "run `make setup-train TRAINER=simpletuner`"


def run_simpletuner_preflight(
    cfg: ExperimentConfig, plan: SimpleTunerPlan, root: Path, probes: SimpleTunerProbes | None = None
) -> list[Check]:
    probes = probes or SimpleTunerProbes()
    python = Path(root).resolve() / ENV_DIR / "bin" / "python"
    report = probes.env_report(python)
    checks = _environment_checks(cfg, probes, python, report)
    checks += _flux_checks(plan, probes)
    dataset, images = _dataset_check(cfg, plan)
    checks.append(dataset)
    resume = _resume_check(plan)
    if resume is not None:
        checks.append(resume)
    if report is not None and probes.machine.parse_argv:
        checks.append(_accept_check(probes, python, plan))
    checks += _disk_checks(cfg, plan, probes, images)
    return checks


def _environment_checks(
    cfg: ExperimentConfig, probes: SimpleTunerProbes, python: Path, report: dict | None
) -> list[Check]:
    """The GPU as SimpleTuner's torch sees it, its pinned packages, bitsandbytes if the optimizer needs it."""
    if report is None:  # no environment to ask: judge the cards alone; the environment check names the fix
        _, gpus, source = probes.machine.cuda()
        return [
            check_gpu(cfg, bool(gpus), gpus, source),
            Check(
                "SimpleTuner environment",
                False,
                f"{python} is missing or broken (SimpleTuner has its own environment)",
                _SETUP,
            ),
        ]
    checks: list[Check] = []
    gpus = [Gpu(name, gib) for name, gib in report.get("gpus", [])]
    if not gpus:  # its torch sees none: maybe there are GPUs but a CPU torch
        _, gpus, source = probes.machine.cuda()
        checks.append(check_gpu(cfg, False, gpus, source, _SETUP))
    else:
        checks.append(check_gpu(cfg, bool(report.get("cuda")), gpus, "torch", _SETUP))
    version = report.get("simpletuner")
    ok = version == SIMPLETUNER_VERSION
    checks.append(
        Check(
            "SimpleTuner environment",
            ok,
            f"{ENV_DIR}: simpletuner {version or 'missing'} (pinned {SIMPLETUNER_VERSION}), "
            f"torch {report.get('torch')}, diffusers {report.get('diffusers')}, "
            f"torchao {report.get('torchao')}",
            "" if ok else _SETUP,
        )
    )
    if cfg.optimizer.type.endswith("8bit"):
        bnb = report.get("bitsandbytes")
        checks.append(
            Check(
                "bitsandbytes",
                bnb is not None,
                f"needed by SimpleTuner's bnb-* optimizer: {bnb or 'missing'} in {ENV_DIR}",
                "" if bnb else _SETUP,
            )
        )
    return checks


def _flux_checks(plan: SimpleTunerPlan, probes: SimpleTunerProbes) -> list[Check]:
    """The FLUX transformer file, and the diffusers parts SimpleTuner loads from the Hub cache."""
    model = check_model_file("flux", Path(plan.config["pretrained_transformer_model_name_or_path"]))
    cached = probes.flux_parts_cached()
    parts = Check(
        "FLUX.1-dev diffusers parts",
        cached,
        f"text encoders, tokenizers and VAE of {FLUX_DIFFUSERS_REPO} "
        f"{'are' if cached else 'are not'} in the Hugging Face cache",
        "" if cached else f"{_SETUP} (needs HF_TOKEN with the FLUX.1-dev licence accepted)",
    )
    return [model, parts]


def _dataset_check(cfg: ExperimentConfig, plan: SimpleTunerPlan) -> tuple[Check, int]:
    """The images pass `ascii-lora validate` and are all linked into the view; also how many there are."""
    from ...dataset.validate import validate_dir

    images_dir = plan.view.source
    if not images_dir.is_dir():
        return Check("dataset", False, f"{images_dir} does not exist", "run `make dataset`"), 0
    images, problems = validate_dir(images_dir, cfg.dataset.resolution, cfg.dataset.cell_size)
    links = len(list(plan.view.target.glob("*.png"))) if plan.view.target.is_dir() else 0
    if images == 0:
        return Check("dataset", False, f"{images_dir} holds no PNG images", "run `make dataset`"), images
    if problems:
        return Check(
            "dataset",
            False,
            f"{len(problems)} problem(s), first: {problems[0]}",
            f"run `ascii-lora validate {images_dir}`, then `make dataset`",
        ), images
    if links != images:
        return Check(
            "dataset",
            False,
            f"{plan.view.target} links {links} of the {images} images",
            "run `ascii-lora plan --trainer simpletuner` again",
        ), images
    return Check(
        "dataset",
        True,
        f"{images} images in {images_dir}, all pass `ascii-lora validate`, linked into {plan.view.target}",
    ), images


def _resume_check(plan: SimpleTunerPlan) -> Check | None:
    """RESUME=1 has a checkpoint to resume from, and a fresh run has none SimpleTuner would resume anyway."""
    saved = checkpoint_dirs(plan.run_dir)
    if plan.resume and not saved:
        return Check(
            "resume state",
            False,
            f"no checkpoint-N in {plan.run_dir}",
            "run without RESUME=1 to start fresh",
        )
    if plan.resume:
        return Check("resume state", True, f"resuming from {saved[-1][1].name}")
    if saved:
        return Check(
            "resume state",
            False,
            f"{plan.run_dir} holds {saved[-1][1].name}: SimpleTuner 3.1.6 always resumes from the newest "
            "checkpoint (config.json cannot switch that off), so this would not be a fresh run",
            "run with RESUME=1 to continue it, or move the checkpoint-* folders (or [training] output_dir) "
            "to start fresh",
        )
    return None


def _accept_check(probes: SimpleTunerProbes, python: Path, plan: SimpleTunerPlan) -> Check:
    """SimpleTuner's own config loader accepts the planned files with our values intact."""
    ok, line = probes.accepts(python, plan.run_dir)
    return Check(
        "SimpleTuner accepts the plan",
        ok,
        line if ok else f"its own loader refused: {line}",
        ""
        if ok
        else f"{_SETUP}; if it persists, report it with the output of "
        f"`{python} {ACCEPT_SCRIPT} {plan.run_dir}`",
    )


def _disk_checks(
    cfg: ExperimentConfig, plan: SimpleTunerPlan, probes: SimpleTunerProbes, images: int
) -> list[Check]:
    """The run folder is writable and has room for the run's checkpoints and samples."""
    writable = check_writable(plan.run_dir)
    need = estimate_run_bytes(cfg, images)
    free = probes.machine.free(plan.run_dir)
    return [
        writable,
        Check(
            "free disk",
            free >= need,
            f"{free / GIB:.1f} GiB free at {plan.run_dir}, run needs ~{need / GIB:.1f} GiB",
            ""
            if free >= need
            else "free disk space, move [training] output_dir, or raise save_every_n_steps",
        ),
    ]
