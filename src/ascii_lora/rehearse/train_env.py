"""The rehearsal's train environment: a separate virtualenv (``.venv-train``) it builds itself.

Why separate: the core install has no torch (and CI never gets one); a rehearsal needs the same
packages as a training box, sd-scripts' requirements at the pin included, without touching the
project's ``.venv``. Built once, without any model download; rebuilt when sd-scripts'
requirements, the torch spec or the dependencies it installs from pyproject.toml change. Anything
that cannot be set up is named with the command that would fix it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

from ..errors import UserError
from ..train.kohya.plan import SD_SCRIPTS_COMMIT, SD_SCRIPTS_DIR

TRAIN_VENV = Path(".venv-train")
# On this project's x86_64 machines these two come from a local wheel store; elsewhere pip fetches them.
# torchvision is needed by sd-scripts; PyPI's torchvision does not import beside the CPU-only torch 2.13.0 wheel.
TORCH_SPEC = os.environ.get("REHEARSAL_TORCH", "torch==2.14.1 torchvision==0.29.1")
STAMP = ".ascii-lora-rehearsal"
NEEDED = (
    "torch",
    "torchvision",
    "accelerate",
    "transformers",
    "diffusers",
    "bitsandbytes",
    "sentencepiece",
    "tokenizers",
    "safetensors",
    "voluptuous",
    "toml",
    "einops",
    "peft",
    "ascii_lora",
)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def sd_scripts_problem(root: Path) -> str | None:
    """None when vendor/sd-scripts is checked out at the pin; else what is wrong and the fix."""
    sd = root / SD_SCRIPTS_DIR
    if not (sd / "flux_train_network.py").is_file() or not (sd / "requirements.txt").is_file():
        return (
            f"{sd} is not checked out (the rehearsal runs its real training script): run "
            f"`git submodule update --init {SD_SCRIPTS_DIR}`"
        )
    try:
        head = subprocess.run(
            ["git", "-C", str(sd), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        head = ""
    if head != SD_SCRIPTS_COMMIT:
        return (
            f"{sd} is at {head[:12] or 'an unknown commit'}, the project pins {SD_SCRIPTS_COMMIT[:12]}: run "
            f"`git -C {SD_SCRIPTS_DIR} checkout {SD_SCRIPTS_COMMIT}`"
        )
    return None


def requirements(root: Path) -> str:
    """sd-scripts' requirements.txt without its ``-e .`` (that would write build files under vendor/)."""
    text = (root / SD_SCRIPTS_DIR / "requirements.txt").read_text()
    return "".join(line + "\n" for line in text.splitlines() if not line.strip().startswith("-e"))


def installed_dependencies(root: Path) -> str:
    """The part of pyproject.toml the train env installs: the core dependencies, the train and interop extras.

    Why not the whole file: a new dev tool, a docs extra or a version bump of ours changes nothing
    in the train env, and a rebuild costs minutes and 6 GB of wheels.
    """
    project = tomllib.loads((root / "pyproject.toml").read_text()).get("project", {})
    extras = project.get("optional-dependencies", {})
    return json.dumps([project.get("dependencies", []), extras.get("train", []), extras.get("interop", [])])


def fingerprint(root: Path) -> str:
    h = hashlib.sha256()
    for part in (TORCH_SPEC, requirements(root), installed_dependencies(root)):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


def missing_modules(python: Path) -> list[str]:
    """Modules of NEEDED that ``python`` cannot find (found by spec, nothing is imported)."""
    code = (
        "import importlib.util, sys\n"
        f"print(' '.join(m for m in {NEEDED!r} if importlib.util.find_spec(m) is None))"
    )
    try:
        out = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=120, check=True
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return list(NEEDED)
    return out.split()


def ensure(root: Path, venv: Path = TRAIN_VENV, log: Callable[[str], None] = lambda m: None) -> Path:
    """The train env's python, built or updated when needed. Raises UserError naming what is missing."""
    problem = sd_scripts_problem(root)
    if problem:
        raise UserError(problem)
    venv = venv if venv.is_absolute() else root / venv
    python = venv_python(venv)
    want = fingerprint(root)
    stamp = venv / STAMP
    if python.exists() and stamp.is_file() and stamp.read_text().strip() == want:
        missing = missing_modules(python)
        if not missing:
            return python
        log(f"train env {venv}: {', '.join(missing)} missing; reinstalling")
    install_log = venv.parent / f"{venv.name}.install.log"
    log(
        f"setting up the train env {venv} (torch, sd-scripts' requirements, this project; no model downloads); "
        f"pip output in {install_log}"
    )
    with open(install_log, "a", encoding="utf-8") as out:

        def run(cmd: list[str], what: str) -> None:
            out.write(f"\n$ {' '.join(cmd)}\n")
            out.flush()
            r = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=root)
            if r.returncode:
                raise UserError(f"train env: {what} failed (exit {r.returncode}); see {install_log}")

        if not python.exists():
            run([sys.executable, "-m", "venv", str(venv)], f"python -m venv {venv}")
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
        run(
            [*pip, *TORCH_SPEC.split()],
            f"pip install {TORCH_SPEC} (set REHEARSAL_TORCH to choose another build)",
        )
        with tempfile.NamedTemporaryFile("w", suffix="-requirements.txt", delete=False) as req:
            req.write(requirements(root))
        try:
            run([*pip, "-r", req.name], f"pip install -r {SD_SCRIPTS_DIR}/requirements.txt")
        finally:
            os.unlink(req.name)
        run([*pip, "-e", f"{root}[interop]"], "pip install -e .[interop] (this project; peft for diffusers)")
    missing = missing_modules(python)
    if missing:
        raise UserError(
            f"train env {venv}: still missing after install: {', '.join(missing)}; see {install_log}"
        )
    stamp.write_text(want + "\n")
    return python
