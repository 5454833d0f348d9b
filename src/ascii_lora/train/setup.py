"""`make setup-train`: everything a CUDA box needs before `make train`, safe to re-run.

Order matters for the user's wallet: free disk is checked before gigabytes are fetched, and
every step skips what is already in place.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config.models import ExperimentConfig
from ..errors import UserError
from .kohya.plan import SD_SCRIPTS_COMMIT, SD_SCRIPTS_DIR
from .safetensors_header import NotSafetensors, read_header

GIB = 1024**3
TORCH_INDEX = os.environ.get("TORCH_INDEX_URL", "https://download.pytorch.org/whl/cu124")


@dataclass(frozen=True)
class Download:
    key: str  # [model] field
    repo_id: str
    filename: str
    size_gib: float
    gated: bool


DOWNLOADS = (
    Download("flux", "black-forest-labs/FLUX.1-dev", "flux1-dev.safetensors", 23.8, True),
    Download("ae", "black-forest-labs/FLUX.1-dev", "ae.safetensors", 0.34, True),
    Download("clip_l", "comfyanonymous/flux_text_encoders", "clip_l.safetensors", 0.25, False),
    Download("t5xxl", "comfyanonymous/flux_text_encoders", "t5xxl_fp16.safetensors", 9.8, False),
)
TOKENIZERS = (("openai/clip-vit-large-patch14", "CLIPTokenizer"), ("google/t5-v1_1-xxl", "T5TokenizerFast"))


def http_status(error: BaseException) -> int | None:
    """Status code of a huggingface_hub / requests error, without importing either."""
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def explain_download_error(d: Download, error: BaseException) -> str:
    status = http_status(error)
    name = type(error).__name__
    if (status in (401, 403) or name in ("GatedRepoError",)) and not d.gated:
        return (
            f"{d.repo_id}/{d.filename}: access denied ({status or name}) to a public file; "
            "check HF_TOKEN (an expired token is refused) or the network's proxy, then re-run `make setup-train`"
        )
    if status in (401, 403) or name in ("GatedRepoError",):
        return (
            f"{d.repo_id}/{d.filename}: access denied ({status or name}). FLUX.1-dev is gated: log in at "
            f"https://huggingface.co/{d.repo_id}, accept the licence, create a read token at "
            "https://huggingface.co/settings/tokens, then run `HF_TOKEN=hf_... make setup-train`"
        )
    if status == 404 or name in ("EntryNotFoundError", "RepositoryNotFoundError"):
        return f"{d.repo_id}/{d.filename}: not found on the Hub (renamed upstream?); download it by hand to the [model] {d.key} path"
    return f"{d.repo_id}/{d.filename}: download failed ({name}: {error}); re-run `make setup-train` to resume"


def model_present(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        read_header(path)
        return True
    except NotSafetensors:
        return False


def missing_downloads(cfg: ExperimentConfig, root: Path) -> list[tuple[Download, Path]]:
    out = []
    for d in DOWNLOADS:
        path = Path(getattr(cfg.model, d.key))
        path = path if path.is_absolute() else root / path
        if not model_present(path):
            out.append((d, path))
    return out


def check_disk_for(downloads: list[tuple[Download, Path]], free_bytes: Callable[[Path], int]) -> None:
    if not downloads:
        return
    target = downloads[0][1].parent
    probe = target
    while not probe.exists():
        probe = probe.parent
    need = sum(d.size_gib for d, _ in downloads) * GIB * 1.05
    free = free_bytes(probe)
    if free < need:
        raise UserError(
            f"{target}: {free / GIB:.1f} GiB free, the missing model files need {need / GIB:.1f} GiB; "
            "free space or point [model] paths at a larger disk"
        )


def download_models(
    cfg: ExperimentConfig,
    root: Path,
    say: Callable[[str], None],
    hub_download=None,
    free_bytes: Callable[[Path], int] = lambda p: shutil.disk_usage(p).free,
    keys: tuple[str, ...] | None = None,
) -> int:
    """Fetch missing model files into their [model] paths (only ``keys`` when given); returns how many were fetched."""
    todo = [t for t in missing_downloads(cfg, root) if keys is None or t[0].key in keys]
    for d in DOWNLOADS:
        if keys is not None and d.key not in keys:
            continue
        if all(d is not t[0] for t in todo):
            say(f"model {d.key}: present, skipped")
    check_disk_for(todo, free_bytes)
    if todo and hub_download is None:
        try:
            from huggingface_hub import hf_hub_download
        except ImportError:
            raise UserError(
                "huggingface_hub is missing: run `make setup-train` (it installs the train extra first)"
            ) from None
        hub_download = hf_hub_download
    token = os.environ.get("HF_TOKEN") or None
    for d, path in todo:
        say(f"model {d.key}: downloading {d.repo_id}/{d.filename} (~{d.size_gib:g} GiB) -> {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            got = Path(
                hub_download(repo_id=d.repo_id, filename=d.filename, local_dir=str(path.parent), token=token)
            )
        except Exception as e:  # noqa: BLE001 - every failure becomes one actionable line
            raise UserError(explain_download_error(d, e)) from None
        if got.resolve() != path.resolve():
            os.replace(got, path)
    return len(todo)


def prefill_tokenizers(cache: Path, say: Callable[[str], None]) -> None:
    """Save both tokenizers where sd-scripts looks (``<cache>/<repo id with / as _>``) so it starts offline."""
    missing = [(rid, cls) for rid, cls in TOKENIZERS if not (cache / rid.replace("/", "_")).is_dir()]
    if not missing:
        say(f"tokenizers: present in {cache}, skipped")
        return
    try:
        import transformers
    except ImportError:
        raise UserError(
            "transformers is missing: sd-scripts' requirements were not installed (run `make setup-train`)"
        ) from None
    for rid, cls in missing:
        say(f"tokenizers: caching {rid}")
        tok = getattr(transformers, cls).from_pretrained(rid)
        tok.save_pretrained(str(cache / rid.replace("/", "_")))


def run(cmd: list[str], cwd: Path, say: Callable[[str], None]) -> None:
    say("$ " + " ".join(cmd))
    r = subprocess.run(cmd, cwd=cwd)
    if r.returncode:
        raise UserError(f"`{' '.join(cmd)}` failed with exit code {r.returncode}")


def git_toplevel(folder: Path) -> Path | None:
    """The work tree git would act on from ``folder``: a plain folder inside a repo answers with the parent repo."""
    try:
        r = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(r.stdout.strip()).resolve() if r.returncode == 0 and r.stdout.strip() else None


def ensure_submodule(root: Path, say: Callable[[str], None]) -> None:
    sd = root / SD_SCRIPTS_DIR
    if not (sd / "flux_train_network.py").exists():
        run(["git", "submodule", "update", "--init", str(SD_SCRIPTS_DIR)], root, say)
    if git_toplevel(sd) != sd.resolve():  # never run checkout against whatever repository holds a plain copy
        raise UserError(
            f"{SD_SCRIPTS_DIR}: is not the sd-scripts submodule (git answers for {git_toplevel(sd) or 'no repository'}); "
            f"move the folder aside and run `git submodule update --init {SD_SCRIPTS_DIR}`"
        )
    head = subprocess.run(
        ["git", "-C", str(sd), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    if head != SD_SCRIPTS_COMMIT:
        run(["git", "-C", str(sd), "checkout", "--quiet", SD_SCRIPTS_COMMIT], root, say)
    say(f"sd-scripts: at pinned {SD_SCRIPTS_COMMIT[:12]}")


def torch_has_cuda(python: str | Path = sys.executable) -> bool:
    r = subprocess.run(
        [str(python), "-c", "import torch,sys; sys.exit(0 if torch.version.cuda else 1)"], capture_output=True
    )
    return r.returncode == 0


def install_packages(root: Path, say: Callable[[str], None]) -> None:
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    if torch_has_cuda():
        say("torch: a CUDA build is installed, skipped")
    else:
        run([*pip, "torch>=2.6", "torchvision", "--index-url", TORCH_INDEX], root, say)
    run([*pip, "-e", f"{root}[train]"], root, say)
    # requirements.txt ends with `-e .`: it must run from inside sd-scripts
    run([*pip, "-r", "requirements.txt"], root / SD_SCRIPTS_DIR, say)


def setup_train(
    cfg: ExperimentConfig, root: Path, say: Callable[[str], None], skip_install: bool = False
) -> None:
    ensure_submodule(root, say)
    if not skip_install:
        install_packages(root, say)
    download_models(cfg, root, say)
    cache = Path(cfg.model.tokenizer_cache_dir)
    prefill_tokenizers(cache if cache.is_absolute() else root / cache, say)
