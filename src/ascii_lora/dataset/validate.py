"""Prove a dataset directory is what the LoRA must learn: exact pixels that read back to the text."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .. import TRIGGER_WORD
from ..errors import UserError
from ..fsutil import not_regular, read_regular, sha256_file
from ..grid.atlas import get_atlas
from ..imageio import ImageReadError, load_gray
from .manifest import EXTENSIONS, MANIFEST, Manifest, read_manifest

MAX_TEXT_BYTES = 1 << 20  # a caption is one line, a .ascii at most 512 x 513 characters

# What sd-scripts trains on in an image folder (library/train_util.py at the pin: IMAGE_EXTENSIONS, and
# .avif/.jxl when their Pillow plugins are installed), each suffix globbed as `*<suffix>`: case-sensitive,
# so `.Png` is not taken, and glob's `*` never matches a hidden name.
_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".avif", ".jxl")
TRAINER_IMAGE_SUFFIXES = _SUFFIXES + tuple(s.upper() for s in _SUFFIXES)


def trainer_images(directory: Path) -> list[Path]:
    """Every entry of ``directory`` the trainer's image list takes (folders and FIFOs too: it takes them)."""
    return sorted(
        p
        for p in Path(directory).iterdir()
        if not p.name.startswith(".") and p.name.endswith(TRAINER_IMAGE_SUFFIXES)
    )


def _read_text(path: Path, what: str, problems: list[str], strict: bool = False) -> str | None:
    """The text of a caption or ground truth, or None with the reason added to ``problems``.

    ``strict``: a caption that is not UTF-8 stops sd-scripts at start (UnicodeDecodeError), so it is
    a problem, never a replacement character.
    """
    if not path.exists() and not path.is_symlink():
        problems.append(f"{what} {path.suffix} is missing")
        return None
    try:
        raw = read_regular(path, MAX_TEXT_BYTES)
    except UserError as e:
        problems.append(f"{what} {path.name}: {str(e).removeprefix(f'{path}: ')}")
        return None
    try:
        return raw.decode("utf-8", errors="strict" if strict else "replace")
    except UnicodeDecodeError as e:
        problems.append(f"{what} {path.name} is not UTF-8 (byte {e.start}); the trainer stops on it at start")
        return None


@dataclass
class FileProblem:
    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


def check_pair(png: Path, resolution: int, cell: int) -> list[str]:
    """Every reason ``png`` and its .txt/.ascii are not a perfect training pair."""
    problems: list[str] = []
    caption = png.with_suffix(".txt")
    truth = png.with_suffix(".ascii")
    text = _read_text(caption, "caption", problems, strict=True)
    if text is not None:
        if not text.startswith(TRIGGER_WORD + ","):
            problems.append(f"caption does not start with the trigger word '{TRIGGER_WORD},'")
        elif not text.removeprefix(TRIGGER_WORD + ",").strip(" ,\n"):
            problems.append("caption holds only the trigger word, nothing that describes the picture")
        if text.count("\n") > 1 or not text.strip():
            problems.append("caption must be exactly one non-empty line")
    why = not_regular(png)
    if why:
        return problems + [why]
    try:
        with Image.open(png) as im:
            mode = im.mode
    except Exception as e:  # noqa: BLE001 - any unreadable file is one reported problem
        return problems + [f"unreadable PNG ({e.__class__.__name__})"]
    try:
        gray = load_gray(png)
    except ImageReadError as e:
        return problems + [str(e)]
    h, w = gray.shape
    if (w, h) != (resolution, resolution):
        return problems + [f"size {w}x{h}, expected {resolution}x{resolution}"]
    if mode not in ("L", "1"):
        problems.append(f"PNG mode {mode}, expected 8-bit grayscale L or 1-bit")
    bad = np.count_nonzero((gray != 0) & (gray != 255))
    if bad:
        return problems + [f"{bad} pixels are neither 0 nor 255"]
    codes, matched = get_atlas(cell).read_exact(gray == 255)
    if not matched.all():
        y, x = np.argwhere(~matched)[0]
        problems.append(f"{int((~matched).sum())} cells match no atlas tile (first at row {y}, col {x})")
    truth_text = _read_text(truth, "ground truth", problems)
    if truth_text is not None and not truth_text.isascii():
        line = next(i for i, s in enumerate(truth_text.split("\n")) if not s.isascii())
        problems.append(f"ground truth .ascii holds non-ASCII text (first on line {line + 1})")
    elif truth_text is not None:
        lines = truth_text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        want_rows, want_cols = codes.shape
        if len(lines) != want_rows or any(len(line) != want_cols for line in lines):
            problems.append(f".ascii is not {want_rows} lines of {want_cols} characters")
        else:
            want = np.frombuffer("".join(lines).encode("ascii"), dtype=np.uint8).reshape(codes.shape)
            diff = np.argwhere(want != codes)
            if len(diff):
                y, x = diff[0]
                problems.append(
                    f"read-back differs from .ascii in {len(diff)} cells (first row {y}, col {x}: "
                    f"image {chr(codes[y, x])!r}, .ascii {chr(want[y, x])!r})"
                )
    return problems


def validate_dir(
    directory: Path,
    resolution: int,
    cell: int,
    progress: Callable[[Iterable[Path], int], Iterable[Path]] | None = None,
) -> tuple[int, list[FileProblem]]:
    """(images checked, problems). Geometry comes from the manifest when the directory has one.

    The manifest is validated like a config (a corrupt one is a ``UserError``, never skipped), and
    an interrupted dataset is a problem: training on it would see a fraction of the data.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    images = trainer_images(directory)
    pngs = [p for p in images if p.suffix == ".png"]
    problems: list[FileProblem] = [
        FileProblem(
            p.name,
            f"the trainer would train on this {p.suffix} too, but the dataset is PNGs "
            "drawn by `ascii-lora dataset`; move it out of the folder",
        )
        for p in images
        if p.suffix != ".png"
    ]
    if manifest is not None:
        resolution, cell = manifest.config.resolution, manifest.config.cell_size
        present = len({p.name for p in pngs} & manifest.names())
        redo = (
            f"run `ascii-lora dataset --out {directory} --count {manifest.count} --seed {manifest.seed}` "
            "with the --config that wrote it"
        )
        if manifest.status != "complete":
            problems.append(
                FileProblem(
                    MANIFEST,
                    f"the dataset is incomplete: {present} of {manifest.count} images "
                    f"(an interrupted `ascii-lora dataset`); {redo} to complete it",
                )
            )
        elif present < manifest.count:
            problems.append(
                FileProblem(
                    MANIFEST,
                    f"holds {present} of the {manifest.count} images the manifest lists; "
                    f"{redo} to restore the missing ones",
                )
            )
    for stem in sorted(
        {p.stem for p in directory.glob("*.txt")} | {p.stem for p in directory.glob("*.ascii")}
    ):
        if not (directory / f"{stem}.png").exists():
            problems.append(FileProblem(stem, "caption or .ascii without a PNG"))
    for png in progress(pngs, len(pngs)) if progress else pngs:
        found = check_pair(png, resolution, cell)
        if manifest is not None:
            found += _against_manifest(png, manifest)
        problems += [FileProblem(png.name, m) for m in found]
    return len(images), problems


def _against_manifest(png: Path, manifest: Manifest) -> list[str]:
    """Why the files of ``png``'s sample are not the bytes the manifest recorded (swapped, edited, foreign).

    A caption swapped with another sample's still starts with the trigger word and reads back fine:
    only the recorded sha256 tells it is not this picture's caption.
    """
    if png.name not in manifest.names():
        return [
            "not part of this dataset (its manifest does not list it), yet the trainer would train "
            "on it; move it out of the folder"
        ]
    problems = []
    for ext in EXTENSIONS:
        path = png.with_suffix(ext)
        want, got = manifest.files.get(path.name), sha256_file(path)  # None: missing or no file, said above
        if want is not None and got is not None and got != want:
            problems.append(
                f"{path.name} is not the file `ascii-lora dataset` wrote (its sha256 differs "
                "from the manifest's): edited, swapped or damaged; re-run `ascii-lora dataset` "
                "to restore it"
            )
    return problems
