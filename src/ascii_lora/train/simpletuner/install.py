"""`setup-train` for SimpleTuner: its own environment, the FLUX transformer file, the diffusers parts it loads."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ...config.models import ExperimentConfig
from ..setup import download_models, run
from .plan import CONSTRAINTS, ENV_DIR, FLUX_DIFFUSERS_REPO, SIMPLETUNER_VERSION

# What SimpleTuner loads from the diffusers repository (the transformer is [model] flux's single file).
FLUX_DIFFUSERS_PARTS = [
    "model_index.json",
    "scheduler/*",
    "text_encoder/*",
    "text_encoder_2/*",
    "tokenizer/*",
    "tokenizer_2/*",
    "vae/*",
    "transformer/config.json",
]


def simpletuner_install_commands(root: Path, python: Path) -> list[tuple[list[str], Path]]:
    """pip steps into the SimpleTuner environment: the pinned torch family, then the extra, both under the constraints."""
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    constraints = str(root / CONSTRAINTS)
    return [
        ([*pip, "--upgrade", "pip"], root),
        (
            [*pip, "-c", constraints, "torch", "torchvision", "torchaudio"],
            root,
        ),  # the pinned CUDA family first
        ([*pip, "-c", constraints, "-e", f"{root}[simpletuner]"], root),
    ]


def _hub_download_with(python: Path):
    """hf_hub_download run by the SimpleTuner environment's Python (the project environment may lack huggingface_hub)."""

    def download(repo_id: str, filename: str, local_dir: str, token: str | None = None) -> str:
        snippet = (
            "import sys; from huggingface_hub import hf_hub_download; "
            "print(hf_hub_download(repo_id=sys.argv[1], filename=sys.argv[2], local_dir=sys.argv[3]))"
        )
        r = subprocess.run(
            [str(python), "-c", snippet, repo_id, filename, local_dir], capture_output=True, text=True
        )
        if r.returncode:
            raise RuntimeError((r.stderr.strip().splitlines() or ["no output"])[-1])
        return r.stdout.strip().splitlines()[-1]

    return download


def setup_simpletuner(
    cfg: ExperimentConfig, root: Path, say: Callable[[str], None], skip_install: bool = False
) -> None:
    """A separate environment for SimpleTuner, the FLUX transformer file, and the diffusers parts it loads."""
    env = root / ENV_DIR
    python = env / "bin" / "python"
    if not skip_install:
        if not python.exists():
            run([sys.executable, "-m", "venv", str(env)], root, say)
        for cmd, cwd in simpletuner_install_commands(root, python):
            run(cmd, cwd, say)
        say(f"SimpleTuner {SIMPLETUNER_VERSION}: installed in {env}")
    download_models(cfg, root, say, hub_download=_hub_download_with(python), keys=("flux",))
    say(
        f"{FLUX_DIFFUSERS_REPO}: fetching text encoders, tokenizers and VAE into the Hugging Face cache (~10 GiB once)"
    )
    snippet = (
        "import sys; from huggingface_hub import snapshot_download; "
        "snapshot_download(sys.argv[1], allow_patterns=sys.argv[2:])"
    )
    run([str(python), "-c", snippet, FLUX_DIFFUSERS_REPO, *FLUX_DIFFUSERS_PARTS], root, say)
