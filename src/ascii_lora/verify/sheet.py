"""Contact sheets: many pictures at a glance, each framed green (passes the checker) or red."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

PASS = (40, 170, 70)
FAIL = (210, 40, 40)
UNKNOWN = (128, 128, 128)


@dataclass(frozen=True)
class Tile:
    path: Path
    passed: bool | None
    caption: str = ""


def _thumb(tile: Tile, size: int) -> Image.Image:
    try:
        with Image.open(tile.path) as opened:
            im = opened.convert("RGB")
            # nearest keeps a 16 px grid visibly crisp at a quarter size; blur would hide what we judge
            im.thumbnail((size, size), Image.Resampling.NEAREST)
            return im.copy()
    except (OSError, ValueError):
        return Image.new("RGB", (size, size), (60, 0, 0))


def contact_sheet(
    rows: list[list[Tile | None]],
    row_labels: list[str] | None = None,
    column_titles: list[tuple[int, str]] | None = None,
    title: str = "",
    thumb: int = 192,
    gap: int = 6,
    group_gap: list[int] | None = None,
) -> Image.Image:
    """``rows`` of tiles; ``column_titles`` as (first column, text); a wider gap before each column in ``group_gap``."""
    font = ImageFont.load_default()
    cols = max((len(r) for r in rows), default=0)
    label_w = 40 if row_labels else 0
    head = (18 if title else 0) + (18 if column_titles else 0)
    extra = {c: 24 for c in (group_gap or [])}
    xs, x = [], label_w + gap
    for c in range(cols):
        x += extra.get(c, 0)
        xs.append(x)
        x += thumb + gap
    cap_h = 14
    width = max(x, 320)
    height = head + gap + len(rows) * (thumb + cap_h + gap)
    sheet = Image.new("RGB", (width, height), (24, 24, 24))
    d = ImageDraw.Draw(sheet)
    y0 = 4
    if title:
        d.text((gap, y0), title, fill=(255, 255, 255), font=font)
        y0 += 18
    for c, text in column_titles or []:
        if c < len(xs):
            d.text((xs[c], y0), text, fill=(255, 255, 255), font=font)
    top = head + gap
    for r, row in enumerate(rows):
        y = top + r * (thumb + cap_h + gap)
        if row_labels:
            d.text((4, y + thumb // 2 - 6), row_labels[r], fill=(255, 255, 255), font=font)
        for c, tile in enumerate(row):
            if tile is None:
                continue
            im = _thumb(tile, thumb - 8)
            colour = UNKNOWN if tile.passed is None else (PASS if tile.passed else FAIL)
            d.rectangle([xs[c], y, xs[c] + thumb - 1, y + thumb - 1], fill=colour)
            sheet.paste(im, (xs[c] + 4, y + 4))
            if tile.caption:
                d.text((xs[c], y + thumb + 1), tile.caption, fill=(220, 220, 220), font=font)
    return sheet
