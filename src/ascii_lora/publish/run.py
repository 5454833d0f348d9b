"""``ascii-lora publish`` from start to end: choose the LoRA, build the folder, upload it (unless dry)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.models import ExperimentConfig
from ..errors import UserError
from .choose import Choice, choose_lora
from .folder import Folder, assemble
from .hub import Uploaded, check_repo_id, upload


@dataclass
class Published:
    choice: Choice
    folder: Folder
    uploaded: Uploaded | None  # None: a dry run


def _need_hub() -> None:
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        raise UserError("publish needs huggingface_hub: pip install -e '.[publish]'") from None


def publish(
    cfg: ExperimentConfig,
    run_dir: Path,
    repo_id: str,
    lora: Path | None = None,
    out: Path | None = None,
    dry_run: bool = False,
    private: bool = False,
    say: Callable[[str], None] = lambda m: None,
    api: Any = None,
) -> Published:
    """Everything is checked and written before the first byte leaves: a refusal uploads nothing."""
    _need_hub()
    check_repo_id(repo_id)
    run_dir = Path(run_dir)
    choice = choose_lora(run_dir, cfg.training.output_name, lora)
    say(f"LoRA: {choice.path} ({choice.why})")
    if dry_run:
        folder = assemble(cfg, run_dir, choice, repo_id, out or run_dir / "publish")
        return Published(choice, folder, None)
    if out is not None:
        folder = assemble(cfg, run_dir, choice, repo_id, out)
        return Published(choice, folder, upload(folder.path, folder.files, repo_id, private, say, api))
    with tempfile.TemporaryDirectory(prefix="ascii-lora-publish-") as tmp:
        folder = assemble(cfg, run_dir, choice, repo_id, Path(tmp) / "upload")
        return Published(choice, folder, upload(folder.path, folder.files, repo_id, private, say, api))
