"""The upload folder: exactly what goes to the Hub, built from an allow list and checked against a deny list.

Why both: the folder is assembled only from ALLOW's kinds of file, and DENY (states, optimizer
files, caches, train.sh, logs, tokens) is checked over the finished folder all the same, so a
later change that copies one more thing cannot leak a local path or a secret.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from ..config.models import ExperimentConfig
from ..dataset.manifest import read_manifest
from ..errors import UserError
from ..train.kohya.plan import RESOLVED
from .card import Widget, render
from .choose import Choice
from .measured import Measured, read_measured

# upload_folder's allow_patterns: nothing outside these reaches the Hub, whatever lies in the folder
ALLOW = (
    "*.safetensors",
    "README.md",
    "images/*.png",
    "verify/report.md",
    "verify/chart.png",
    "verify/contact_sheet.png",
    "ascii/*.ascii",
    RESOLVED,
    "dataset.json",
)
DENY = (
    "*-state",
    "*-state/*",
    "*.pkl",
    "*optimizer*",
    "*.npz",
    "*cache*",
    "train.sh",
    "*.log",
    "*token*",
    "*.json.tmp",
    ".ascii-lora-tmp-*",
    "scores.json",
    "*.bin",
    "*.pt",
)
MARKER = ".ascii-lora-publish"  # a folder holding it was written by us and may be replaced
MAX_ASCII = 4


@dataclass
class Folder:
    path: Path
    lora: Path
    files: list[str] = field(default_factory=list)  # relative, sorted: what upload_folder sends
    measured: Measured | None = None

    @property
    def size(self) -> int:
        return sum((self.path / f).stat().st_size for f in self.files)


def allowed(rel: str) -> bool:
    return any(fnmatch.fnmatchcase(rel, p) for p in ALLOW)


def denied(rel: str) -> str | None:
    """The deny pattern ``rel`` (or one of its folders) matches, else None."""
    parts = rel.split("/")
    for p in DENY:
        if any(fnmatch.fnmatchcase(x, p) for x in [rel, *parts]):
            return p
    return None


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)  # a 300 MB LoRA is not copied when the folder sits on the same disk
    except OSError:
        shutil.copyfile(src, dst)


def _write(path: Path, text: str) -> None:
    """Into the staging folder: the folder as a whole is renamed into place, so no per-file atomicity."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _scrub(text: str, run_dir: Path) -> str:
    """Local paths of the run folder become relative: the Hub gets no machine's layout."""
    for prefix in {str(run_dir.resolve()), str(run_dir.absolute()), str(run_dir)}:
        text = text.replace(prefix + "/", "").replace(prefix, ".")
    return text


def _resolved_config(run_dir: Path, cfg: ExperimentConfig) -> str:
    """config.resolved.toml with every path cut to its last part (model files, data and run folders)."""
    src = run_dir / RESOLVED
    data = (
        tomllib.loads(src.read_text(encoding="utf-8"))
        if src.is_file()
        else cfg.model_dump(mode="json", exclude_none=True)
    )
    for table, key in (("model", None), ("dataset", "out"), ("training", "output_dir"), ("verify", "out")):
        section = data.get(table, {})
        for k in [key] if key else list(section):
            if isinstance(section.get(k), str):
                section[k] = Path(section[k]).name
    return "# The run's resolved experiment; paths cut to their last part.\n" + tomli_w.dumps(data)


def _dataset_summary(cfg: ExperimentConfig) -> dict[str, Any]:
    m = read_manifest(Path(cfg.dataset.out))
    if m is None:
        return {
            "count": cfg.dataset.count,
            "seed": cfg.dataset.seed,
            "note": "no dataset manifest found; from the config",
        }
    extra = m.model_extra or {}
    return {
        "count": m.count,
        "seed": m.seed,
        "status": m.status,
        "fingerprint": m.fingerprint,
        "families": extra.get("families", {}),
        "versions": extra.get("versions", {}),
    }


def _sample_pictures(run_dir: Path, cfg: ExperimentConfig) -> list[tuple[int, str, Path]]:
    """A run never verified: the last training step's samples (sd-scripts' names), one per prompt."""
    import re

    name = re.escape(cfg.training.output_name)
    found: dict[int, dict[int, Path]] = {}
    for p in sorted((run_dir / "sample").glob("*.png")):
        m = re.match(rf"^{name}_e?(\d{{6}})_(\d{{2}})_\d{{14}}", p.name)
        if m:
            found.setdefault(int(m.group(1)), {}).setdefault(int(m.group(2)), p)
    if not found:
        return []
    last = found[max(found)]
    return [(i, cfg.sample.prompts[i], p) for i, p in sorted(last.items()) if i < len(cfg.sample.prompts)]


def _pictures(stage: Path, run_dir: Path, cfg: ExperimentConfig, measured: Measured | None) -> list[Widget]:
    widgets = []
    if measured is not None and measured.pictures:
        for pic in measured.pictures:
            rel = f"images/p{pic.prompt_index:02d}_s{pic.seed:04d}.png"
            _link_or_copy(pic.png, stage / rel)
            widgets.append(Widget(pic.prompt, rel))
        ascii_files = [p.png.with_suffix(".ascii") for p in measured.pictures if p.passed]
        for src in [a for a in ascii_files if a.is_file()][:MAX_ASCII]:
            _link_or_copy(src, stage / "ascii" / f"{src.stem}.ascii")
        return widgets
    for i, prompt, png in _sample_pictures(run_dir, cfg):
        rel = f"images/sample_p{i:02d}.png"
        _link_or_copy(png, stage / rel)
        widgets.append(Widget(prompt, rel))
    return widgets


def _verify_files(stage: Path, run_dir: Path, measured: Measured | None) -> None:
    if measured is None:
        return
    report = measured.verify_dir / "report.md"
    if report.is_file():
        _write(stage / "verify" / "report.md", _scrub(report.read_text(encoding="utf-8"), run_dir))
    for name in ("chart.png", "contact_sheet.png"):
        if (measured.verify_dir / name).is_file():
            _link_or_copy(measured.verify_dir / name, stage / "verify" / name)


def check_folder(folder: Path, run_dir: Path) -> list[str]:
    """Every file allowed, none denied, no text that names this machine's run folder or home."""
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MARKER)
    leaks = {str(run_dir.resolve()), str(Path.home()) + "/"}
    for rel in files:
        bad = denied(rel)
        if bad or not allowed(rel):
            raise UserError(
                f"publish: {rel} would be uploaded but "
                + (f"matches the deny list ({bad})" if bad else "is on no allow list")
                + "; nothing was uploaded"
            )
        if rel.endswith((".md", ".toml", ".json", ".ascii")):
            text = (folder / rel).read_text(encoding="utf-8", errors="replace")
            leak = next((s for s in leaks if s in text), None)
            if leak:
                raise UserError(f"publish: {rel} names the local path {leak}; nothing was uploaded")
    return files


def _replace(stage: Path, out: Path) -> None:
    """The finished folder takes ``out``'s place; a folder we did not write is never removed."""
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise UserError(f"--out {out}: exists and is no folder; give a new folder")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise UserError(
                f"--out {out}: a folder that ascii-lora publish did not write; give a new or empty folder"
            )
        shutil.rmtree(out)
    os.replace(stage, out)


def assemble(cfg: ExperimentConfig, run_dir: Path, choice: Choice, repo_id: str, out: Path) -> Folder:
    """Write the upload folder to ``out`` (built beside it, then renamed into place)."""
    run_dir, out = Path(run_dir), Path(out)
    measured = read_measured(run_dir, choice.path)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        (stage / MARKER).write_text("written by ascii-lora publish; replaced on the next run\n")
        _link_or_copy(choice.path, stage / choice.path.name)
        widgets = _pictures(stage, run_dir, cfg, measured)
        _verify_files(stage, run_dir, measured)
        _write(stage / RESOLVED, _resolved_config(run_dir, cfg))
        dataset = _dataset_summary(cfg)
        _write(stage / "dataset.json", json.dumps(dataset, indent=1, sort_keys=True) + "\n")
        _write(
            stage / "README.md",
            render(cfg, repo_id, choice.path.name, choice.why, measured, widgets, dataset),
        )
        files = check_folder(stage, run_dir)
        _replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return Folder(out, out / choice.path.name, files, measured)
