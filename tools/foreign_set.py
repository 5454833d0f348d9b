"""A judge that is not us: pictures drawn without the project's drawing code, each beside a person's verdict.

    python tools/foreign_judge.py sheet PART CLASS OUT.png   # what the person looked at (grid overlaid)
    python tools/foreign_judge.py agree [PART ...]           # agreement of `ascii-lora check` per class

Every picture is drawn here with Pillow's own fonts (the bundled FreeType "Aileron" at several sizes
and the bitmap default font) and numpy/Pillow shapes, then degraded the way a diffusion model's
decoder degrades a picture. Nothing is drawn by the project's generator or atlas, with one
deliberate exception: the ``kit_1px`` class borrows the atlas's tile *shapes* (what the LoRA learns
to draw) and distorts them here, independently of the checker, as a VAE decode does (strokes
1 px thicker or thinner, each glyph moved by up to 1 px in its cell).

The set is deterministic: PART "tune" (seed 1000) is what the thresholds were tuned on; PART
"held" (seed 2000) is the held-out part the tuning never looked at. The verdicts were written by
a person who looked at each picture with a 16 px grid drawn over it (``sheet``), without running
the checker: they live in tools/foreign_verdicts.json, one entry per picture (foreign_judge.py).
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SIDE = 1024
CELL = 16
PARTS = {"tune": 1000, "held": 2000}
PER_CLASS = 6
CLASSES = (
    "kit_1px",
    "decoder_levels",
    "jpeg_noise",
    "shifted",
    "sparse_panel",
    "grey",
    "blurred",
    "antialiased",
    "wrong_pitch",
    "off_grid",
    "degenerate",
)
PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))
WORDS = (
    "amber basin cobalt delta ember fjord gravel harbor island juniper kettle lantern meadow "
    "nickel orchard pylon quarry ravine summit thicket umber valley willow xenon yonder zenith "
    "ALERT DOOR KEY GOLD HP MP LEVEL SCORE 0123 4567 89 [ok] (no) {x} <y> a+b=c 50% #7 @home"
).split()


@dataclass
class Picture:
    """One picture and what it is (``truth``: the characters drawn, for read-back; None if not a grid)."""

    part: str
    klass: str
    index: int
    image: np.ndarray  # uint8 (SIDE, SIDE)
    what: str
    truth: list[str] | None = None

    @property
    def key(self) -> str:
        return f"{self.klass}/{self.index}"


# -- glyphs: Pillow's fonts, each glyph centred in its cell ----------------------------------------


@lru_cache(maxsize=16)
def font_cells(font_name: str, pitch: int = CELL, threshold: bool = True) -> dict[str, np.ndarray]:
    """Each printable character drawn by Pillow into a pitch x pitch cell, its ink centred across
    and the font's line box centred down (so the cell box is clear to a reader)."""
    font = _font(font_name)
    top_all = min(font.getbbox(ch)[1] for ch in PRINTABLE)
    bottom_all = max(font.getbbox(ch)[3] for ch in PRINTABLE)
    top = (pitch - (bottom_all - top_all)) // 2 - top_all
    out = {" ": np.zeros((pitch, pitch), np.uint8)}
    for ch in PRINTABLE:
        im = Image.new("L", (pitch, pitch))
        left, _, right, _ = font.getbbox(ch)
        ImageDraw.Draw(im).text(((pitch - (right - left)) // 2 - left, top), ch, fill=255, font=font)
        a = np.asarray(im)
        out[ch] = np.where(a >= 128, 255, 0).astype(np.uint8) if threshold else a.copy()
    return out


def _font(name: str):
    if name == "bitmap":
        return ImageFont.load_default_imagefont()
    return ImageFont.load_default(size=int(name.split("-")[1]))


@lru_cache(maxsize=1)
def kit_shapes() -> dict[str, np.ndarray]:
    """The atlas's tile shapes (bool 16 x 16): what the LoRA is taught to draw. Shapes only."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from ascii_lora.grid.atlas import get_atlas

    atlas = get_atlas(CELL)
    return {ch: np.array(t) for ch, t in zip(atlas.chars, atlas.tiles, strict=False)}


def place(rows: list[str], glyphs: dict[str, np.ndarray], pitch: int = CELL) -> np.ndarray:
    img = np.zeros((SIDE, SIDE), np.uint8)
    for r, line in enumerate(rows):
        for c, ch in enumerate(line):
            y, x = r * pitch, c * pitch
            if ch != " " and y + pitch <= SIDE and x + pitch <= SIDE:
                img[y : y + pitch, x : x + pitch] = np.maximum(img[y : y + pitch, x : x + pitch], glyphs[ch])
    return img


# -- layouts: what is written where, in cells ------------------------------------------------------


def text_rows(rng, n: int, dense: bool) -> list[str]:
    rows = [" " * n for _ in range(n)]
    for r in range(1, n - 1, 1 if dense else 3):
        x = int(rng.integers(1, 5))
        width = n - 2 if dense else int(rng.integers(12, n - 8))
        line = " " * x
        while len(line) < width:
            line += WORDS[int(rng.integers(len(WORDS)))] + " "
        rows[r] = (line[:width] + " " * n)[:n]
    return rows


def room_rows(rng, n: int, dense: bool, lines: bool) -> list[str]:
    """Rooms of '#' walls (or line walls -|{}[]) with '.' floors and a '+' door, on an n x n cell map."""
    g = np.full((n, n), " ")
    want, placed = (int(rng.integers(7, 12)) if dense else int(rng.integers(2, 4))), 0
    for _ in range(500):
        if placed >= want:
            break
        h, w = int(rng.integers(5, 14)), int(rng.integers(6, 18))
        y, x = int(rng.integers(1, n - h - 1)), int(rng.integers(1, n - w - 1))
        if (g[y - 1 : y + h + 1, x - 1 : x + w + 1] != " ").any():
            continue
        if lines:
            g[y, x : x + w] = g[y + h - 1, x : x + w] = "-"
            g[y : y + h, x] = g[y : y + h, x + w - 1] = "|"
            g[y, x], g[y, x + w - 1], g[y + h - 1, x], g[y + h - 1, x + w - 1] = "{", "}", "[", "]"
        else:
            g[y : y + h, x : x + w] = "#"
        g[y + 1 : y + h - 1, x + 1 : x + w - 1] = "."
        g[y + h // 2, x + (0 if rng.random() < 0.5 else w - 1)] = "+"
        placed += 1
    return ["".join(row) for row in g]


def panel_rows(rng, n: int) -> list[str]:
    """One framed text panel (about 60 cells) on an empty screen."""
    g = np.full((n, n), " ")
    w, h = int(rng.integers(12, 18)), int(rng.integers(4, 6))
    y, x = int(rng.integers(2, n - h - 2)), int(rng.integers(2, n - w - 2))
    g[y, x : x + w] = g[y + h - 1, x : x + w] = "-"
    g[y : y + h, x] = g[y : y + h, x + w - 1] = "|"
    g[y, x], g[y, x + w - 1], g[y + h - 1, x], g[y + h - 1, x + w - 1] = "{", "}", "[", "]"
    for k in range(1, h - 1, 2):
        words = " ".join(WORDS[int(i)] for i in rng.integers(len(WORDS), size=4))[: w - 4]
        g[y + k, x + 2 : x + 2 + len(words)] = list(words)
    return ["".join(row) for row in g]


# -- drawing rooms with Pillow shapes -----------------------------------------------------------------


def draw_map(
    rows: list[str], glyphs: dict[str, np.ndarray], pitch: int = CELL, stroke: int = 3, walls: str = "#-|{}[]"
) -> np.ndarray:
    """Walls drawn as shapes (blocks fill cells; line walls are strokes through cell centres that
    join their neighbours), everything else as the font's glyph."""
    im = Image.new("L", (SIDE, SIDE))
    d = ImageDraw.Draw(im)
    half = pitch // 2
    text = []
    for r, line in enumerate(rows):
        out = ""
        for c, ch in enumerate(line):
            x, y = c * pitch, r * pitch
            if ch not in walls:
                pass
            elif ch == "#":
                d.rectangle([x, y, x + pitch - 1, y + pitch - 1], fill=255)
            elif ch in "-|{}[]":
                arms = {"-": "ew", "|": "ns", "{": "es", "}": "ws", "[": "ne", "]": "nw"}[ch]
                a, b = half - stroke // 2, half - stroke // 2 + stroke - 1
                d.rectangle([x + a, y + a, x + b, y + b], fill=255)
                for arm, box in (
                    ("n", [x + a, y, x + b, y + b]),
                    ("s", [x + a, y + a, x + b, y + pitch - 1]),
                    ("w", [x, y + a, x + b, y + b]),
                    ("e", [x + a, y + a, x + pitch - 1, y + b]),
                ):
                    if arm in arms:
                        d.rectangle(box, fill=255)
            out += " " if ch in walls else ch
        text.append(out)
    return np.maximum(np.asarray(im), place(text, glyphs, pitch))


def ongrid(rng, font: str | None = None, dense: bool | None = None) -> tuple[np.ndarray, str, list[str]]:
    """A correct foreign screen: text or a map, in one of Pillow's fonts, on the 16 px grid."""
    font = font or str(rng.choice(["aileron-12", "aileron-13", "aileron-14", "bitmap"]))
    dense = bool(rng.random() < 0.6) if dense is None else dense
    kind = str(rng.choice(["text", "map", "linemap"]))
    n = SIDE // CELL
    rows = text_rows(rng, n, dense) if kind == "text" else room_rows(rng, n, dense, kind == "linemap")
    img = place(rows, font_cells(font)) if kind == "text" else draw_map(rows, font_cells(font))
    return img, f"{'dense' if dense else 'sparse'} {kind} in {font}", rows


# -- degradations (none of them the checker's code) -----------------------------------------------


def levels(img: np.ndarray, black: float, white: float, rng, noise: int) -> np.ndarray:
    out = black + (img.astype(np.float64) / 255.0) * (white - black)
    out += rng.integers(-noise, noise + 1, img.shape) if noise else 0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).convert("RGB").save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


def shift(img: np.ndarray, sx: int, sy: int) -> np.ndarray:
    out = np.zeros_like(img)
    out[sy:, sx:] = img[: SIDE - sy, : SIDE - sx]
    return out


def one_px_off(rows: list[str], rng) -> tuple[np.ndarray, str]:
    """The kit's glyph shapes as a decoder returns them: every glyph moved by up to 1 px inside
    its cell, then every stroke of the picture 1 px thicker or thinner on one side (or unchanged)."""
    shapes = kit_shapes()
    img = np.zeros((SIDE, SIDE), bool)
    moved = 0
    for r, line in enumerate(rows):
        for c, ch in enumerate(line):
            t = shapes[ch]
            dy, dx = (int(v) for v in rng.integers(-1, 2, 2)) if rng.random() < 0.7 else (0, 0)
            t = _move_inside(t, dy, dx)
            moved += (dy, dx) != (0, 0) and t.any()
            img[r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL] = t
    mode = str(rng.choice(["thicker", "thinner", "same"], p=[0.45, 0.35, 0.2]))
    dy, dx = [(0, 1), (1, 0), (1, 1)][int(rng.integers(3))]
    other = np.zeros_like(img)
    other[dy:, dx:] = img[: SIDE - dy, : SIDE - dx]  # the picture moved by (dx, dy)
    if mode == "thicker":
        img = img | other
    elif mode == "thinner":
        img = img & other
    return np.where(img, 255, 0).astype(np.uint8), f"{mode} by 1 px ({dx},{dy}), {moved} glyphs moved"


def _move_inside(t: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move a glyph by (dy, dx) px inside its cell, as far as its blank margin allows."""
    ys, xs = np.nonzero(t)
    if not len(ys):
        return t
    dy = max(-int(ys.min()), min(dy, CELL - 1 - int(ys.max())))
    dx = max(-int(xs.min()), min(dx, CELL - 1 - int(xs.max())))
    return np.roll(t, (dy, dx), (0, 1))


# -- the classes ------------------------------------------------------------------------------------

Made = tuple[np.ndarray, str, "list[str] | None"]
N = SIDE // CELL


def _kit_rows(rows: list[str]) -> list[str]:
    return ["".join(ch if ch in kit_shapes() else "?" for ch in row) for row in rows]


def _kit_1px(rng) -> Made:
    dense = bool(rng.random() < 0.6)
    kind = str(rng.choice(["text", "map", "linemap"]))
    rows = text_rows(rng, N, dense) if kind == "text" else room_rows(rng, N, dense, kind == "linemap")
    rows = _kit_rows(rows)
    img, how = one_px_off(rows, rng)
    return img, f"{'dense' if dense else 'sparse'} {kind}: {how}", rows


def _decoder_levels(rng) -> Made:
    img, what, rows = ongrid(rng)
    if rng.random() < 0.4:
        rows = _kit_rows(rows)
        img, how = one_px_off(rows, rng)
        what = "kit glyphs " + how
    b, w = int(rng.integers(10, 17)), int(rng.integers(235, 247))
    return levels(img, b, w, rng, 3), f"{what}; levels {b}..{w} +-3", rows


def _jpeg_noise(rng) -> Made:
    img, what, rows = ongrid(rng, font=str(rng.choice(["aileron-11", "aileron-12", "bitmap"])))
    return levels(jpeg(img, 90), 0, 255, rng, 6), f"{what}; jpeg q90 +-6", rows


def _shifted(rng) -> Made:
    img, what, rows = ongrid(rng)
    sx, sy = (int(v) if v else 0 for v in rng.choice([0, 4, 5, 6, 7, 8, 9, 10, 11, 12], 2))
    if sx == sy == 0:
        sx = int(rng.integers(4, 13))
    return shift(img, sx, sy), f"{what}; shifted by {sx},{sy}", rows


def _sparse_panel(rng) -> Made:
    font = str(rng.choice(["aileron-12", "aileron-14", "bitmap"]))
    if rng.random() < 0.7:
        rows = panel_rows(rng, N)
        return draw_map(rows, font_cells(font), walls="-|{}[]"), f"one framed panel in {font}", rows
    rows = room_rows(rng, N, False, bool(rng.random() < 0.5))
    return draw_map(rows, font_cells(font)), f"a few rooms in {font}", rows


def _grey(rng) -> Made:
    img, what, rows = ongrid(rng)
    b = int(rng.integers(35, 70))
    return levels(img, b, 255, rng, 2), f"{what}; background {b}", rows


def _blurred(rng) -> Made:
    img, what, rows = ongrid(rng)
    sigma = float(rng.uniform(0.8, 1.6))
    blurred = np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(sigma)))
    return blurred, f"{what}; blur {sigma:.2f}", rows


def _antialiased(rng) -> Made:
    dense = bool(rng.random() < 0.6)
    font = str(rng.choice(["aileron-12", "aileron-13", "aileron-14"]))
    rows = text_rows(rng, N, dense)
    what = f"{'dense' if dense else 'sparse'} anti-aliased {font}"
    return place(rows, font_cells(font, threshold=False)), what, rows


def _wrong_pitch(rng) -> Made:
    pitch = int(rng.choice([12, 13, 14, 18, 19, 20]))
    m = SIDE // pitch + 1
    kind = str(rng.choice(["text", "map"]))
    font = font_cells("aileron-11" if pitch < 16 else "aileron-14", pitch)
    if kind == "text":
        rows = text_rows(rng, m, bool(rng.random() < 0.6))
        return place(rows, font, pitch), f"text at a {pitch} px pitch", None
    return draw_map(room_rows(rng, m, True, False), font, pitch), f"map at a {pitch} px pitch", None


def _off_grid(rng) -> Made:
    if rng.random() < 0.5:
        return free_text(rng), "free-placed proportional text", None
    img, what, _ = ongrid(rng, dense=True)
    deg = float(rng.uniform(2, 8) * rng.choice([-1, 1]))
    rotated = np.asarray(Image.fromarray(img).rotate(deg, resample=Image.Resampling.NEAREST))
    return rotated, f"{what}; rotated {deg:.1f}", None


def make(klass: str, rng) -> Made:
    """One picture of ``klass``: (uint8 image, what was drawn, the characters drawn or None)."""
    makers = {
        "kit_1px": _kit_1px,
        "decoder_levels": _decoder_levels,
        "jpeg_noise": _jpeg_noise,
        "shifted": _shifted,
        "sparse_panel": _sparse_panel,
        "grey": _grey,
        "blurred": _blurred,
        "antialiased": _antialiased,
        "wrong_pitch": _wrong_pitch,
        "off_grid": _off_grid,
        "degenerate": degenerate,
    }
    return makers[klass](rng)


def free_text(rng) -> np.ndarray:
    size = int(rng.integers(11, 17))
    font = ImageFont.load_default(size=size)
    im = Image.new("L", (SIDE, SIDE))
    d = ImageDraw.Draw(im)
    y = int(rng.integers(2, 20))
    while y < SIDE - size:
        x = int(rng.integers(2, 40))
        words = " ".join(WORDS[int(i)] for i in rng.integers(len(WORDS), size=30))
        d.text((x, y), words, fill=255, font=font)
        y += size + int(rng.integers(3, 12))
    return np.where(np.asarray(im) >= 128, 255, 0).astype(np.uint8)


def degenerate(rng) -> tuple[np.ndarray, str, None]:
    kind = str(rng.choice(["blank", "noise", "specks", "line", "scribble"]))
    img = np.zeros((SIDE, SIDE), np.uint8)
    im = Image.new("L", (SIDE, SIDE))
    d = ImageDraw.Draw(im)
    if kind == "blank":
        img = levels(img, int(rng.integers(0, 14)), 255, rng, int(rng.integers(0, 4)))
    elif kind == "noise":
        img = np.where(rng.random((SIDE, SIDE)) < rng.uniform(0.005, 0.05), 255, 0).astype(np.uint8)
    elif kind == "specks":
        for y, x in rng.integers(0, SIDE - 4, (int(rng.integers(5, 40)), 2)):
            d.ellipse([int(x), int(y), int(x) + 2, int(y) + 2], fill=255)
        img = np.asarray(im)
    elif kind == "line":
        pts = [tuple(int(v) for v in rng.integers(0, SIDE, 2)) for _ in range(2)]
        d.line(pts, fill=255, width=int(rng.integers(1, 4)))
        img = np.asarray(im)
    else:  # a small scribble in one corner: a few strokes, far less than a screen's worth
        x, y = (int(v) for v in rng.integers(40, 900, 2))
        d.line([(x, y), (x + 40, y + 10), (x + 20, y + 50)], fill=255, width=2)
        img = np.asarray(im)
    return img, kind, None


def pictures(part: str, klass: str, count: int = PER_CLASS) -> list[Picture]:
    seed = PARTS[part]
    out = []
    for i in range(count):
        rng = np.random.default_rng([seed, CLASSES.index(klass), i])
        img, what, rows = make(klass, rng)
        out.append(Picture(part, klass, i, img, what, rows))
    return out
