"""Contact sheet: thumbnails with their captions, to eyeball a dataset in one picture."""

from __future__ import annotations

import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..errors import UserError
from ..fsutil import read_regular
from ..imageio import ImageReadError, load_gray


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
