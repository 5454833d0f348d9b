"""Contact sheet: thumbnails with their captions, to eyeball a dataset in one picture."""

from __future__ import annotations

import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..errors import UserError
from ..fsutil import not_regular, read_regular
from ..imageio import ImageReadError, load_gray

SHEET_MARK = "ascii-lora preview"  # PNG tEXt "Software": a default-named sheet with it is ours to replace


def sheet_png(sheet: Image.Image) -> bytes:
    """The sheet as PNG bytes, marked as written by ``preview``."""
    import io

    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Software", SHEET_MARK)
    buf = io.BytesIO()
    sheet.save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _is_our_sheet(path: Path) -> bool:
    if not_regular(path):  # a FIFO would block Image.open; a folder is nobody's sheet
        return False
    try:
        with Image.open(path) as im:
            return getattr(im, "text", {}).get("Software") == SHEET_MARK
    except Exception:  # noqa: BLE001 - whatever the file is, it is not a sheet we wrote
        return False


def default_sheet_path(directory: Path) -> tuple[Path, str | None]:
    """Where a sheet goes without --out: ``<dir>_preview.png`` beside the dataset, unless a file of that
    name is not a sheet preview wrote; then the first free ``<dir>_preview-N.png``, with a note saying so."""
    base = directory.parent / f"{directory.name}_preview.png"
    for n in range(1, 1000):
        path = base if n == 1 else base.with_name(f"{directory.name}_preview-{n}.png")
        if not (path.exists() or path.is_symlink()) or _is_our_sheet(path):
            kept = f"{base} is not a sheet preview wrote and is kept; the sheet goes to {path.name}"
            note = None if n == 1 else kept
            return path, note
    raise UserError(f"{base}: this name and 998 numbered ones are taken by other files; pass --out")


def contact_sheet(pngs: list[Path], columns: int = 4, thumb: int = 256) -> Image.Image:
    font = ImageFont.load_default()
    chars = max(20, thumb // 6)
    label_lines = 5
    line_h = 11
    cell_h = thumb + label_lines * line_h + 8
    rows = max(1, -(-len(pngs) // columns))
    sheet = Image.new("L", (columns * (thumb + 8), rows * cell_h), 40)
    draw = ImageDraw.Draw(sheet)
    for k, png in enumerate(pngs):
        x, y = (k % columns) * (thumb + 8) + 4, (k // columns) * cell_h + 4
        try:
            im = Image.fromarray(load_gray(png).clip(0, 255).astype("uint8"))
            sheet.paste(im.resize((thumb, thumb), Image.Resampling.BOX), (x, y))
        except ImageReadError as e:
            draw.text((x, y), f"unreadable: {e}", fill=255, font=font)
        text = _caption(png.with_suffix(".txt"))
        lines = textwrap.wrap(f"{png.stem}: {text}", chars)[:label_lines]
        for j, line in enumerate(lines):
            draw.text((x, y + thumb + 2 + j * line_h), line, fill=230, font=font)
    return sheet


def _caption(path: Path) -> str:
    if not path.exists():
        return "(no caption)"
    try:
        return read_regular(path, 64 << 10).decode("utf-8", "replace").strip()
    except UserError as e:
        return f"(caption unreadable: {str(e).removeprefix(f'{path}: ')})"


def spread(pngs: list[Path], count: int) -> list[Path]:
    """Up to ``count`` images, taken round-robin across families so each one shows up."""
    by_family: dict[str, list[Path]] = {}
    for p in pngs:
        by_family.setdefault(p.stem.rsplit("_", 1)[0], []).append(p)
    queues = [list(v) for _, v in sorted(by_family.items())]
    chosen: list[Path] = []
    while len(chosen) < count and any(queues):
        for q in queues:
            if q and len(chosen) < count:
                chosen.append(q.pop(0))
    return chosen
