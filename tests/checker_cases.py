"""Pictures a careful human judges at a glance, built from code without the kit's atlas.

Every case carries the verdict a person gives it (does it draw something, is it on the 16 px grid,
is it crisp, where is the grid), so the checker can be held against it family by family.
The foreign glyphs are Pillow's bundled default font (FreeType Aileron) rendered into cells and
thresholded; rooms are drawn with numpy rectangles. Only the `atlas_morph` family starts from the
kit's tiles, and it changes every one of them (stroke 1 px thicker or thinner, glyphs nudged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SIDE = 1024
CELL = 16
PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))
WORDS = (
    "north tower vault ember gate river stone quiet hollow market signal relay archive "
    "bridge cellar crypt forge lamp mirror passage secret shadow temple throne tunnel "
    "water winter yard ready error access loading memory report status online"
).split()


@dataclass
class Case:
    family: str
    image: np.ndarray  # uint8 (SIDE, SIDE)
    content: bool
    aligned: bool
    crisp: bool = True
    offset: tuple[int, int] | None = (0, 0)  # expected grid phase, None when there is no grid to find
    offset_slack: int = 0
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.content and self.aligned and self.crisp


# -- glyph sets ---------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def pil_glyphs(pitch: int = CELL, threshold: bool = True) -> dict[str, np.ndarray]:
    """Pillow's default font, each glyph centred in a pitch x pitch cell (grey when not thresholded)."""
    size = max(6, round(pitch * 0.75))
    font = ImageFont.load_default(size=size)
    asc, desc = font.getmetrics()
    top = (pitch - (asc + desc)) // 2 + 1
    out = {}
    for ch in PRINTABLE:
        im = Image.new("L", (pitch, pitch))
        left, _, r, _ = font.getbbox(ch)
        ImageDraw.Draw(im).text(((pitch - (r - left)) // 2 - left, top - 2), ch, fill=255, font=font)
        a = np.asarray(im)
        out[ch] = (a >= 128).astype(np.uint8) * 255 if threshold else a.copy()
    out[" "] = np.zeros((pitch, pitch), np.uint8)
    return out


def render(grid: list[str], glyphs: dict[str, np.ndarray], pitch: int = CELL) -> np.ndarray:
    img = np.zeros((SIDE, SIDE), np.uint8)
    for r, line in enumerate(grid):
        for c, ch in enumerate(line):
            y, x = r * pitch, c * pitch
            if y + pitch > SIDE or x + pitch > SIDE or ch == " ":
                continue
            img[y : y + pitch, x : x + pitch] = np.maximum(img[y : y + pitch, x : x + pitch], glyphs[ch])
    return img


# -- cell grids (characters), drawn later by any glyph set ----------------------------------------


def text_grid(rng, dense: bool, cols: int = 64, rows: int = 64) -> list[str]:
    grid = [" " * cols for _ in range(rows)]
    lines = range(1, rows - 1, 1 if dense else 6)
    for r in lines:
        line, x = "", int(rng.integers(1, 4))
        width = cols - 2 if dense else int(rng.integers(16, 40))
        line = " " * x
        while len(line) < width:
            line += WORDS[int(rng.integers(len(WORDS)))] + " "
        line = line[:width]
        if dense and rng.random() < 0.3:
            line = line.upper()
        grid[r] = (line + " " * cols)[:cols]
    return grid


def room_grid(rng, dense: bool, n: int = 64) -> np.ndarray:
    """Rooms as a cell mask: 1 wall, 2 floor, 3 door. Non-overlapping, joined by nothing fancy."""
    g = np.zeros((n, n), np.uint8)
    want = int(rng.integers(9, 14)) if dense else int(rng.integers(2, 4))
    placed = 0
    for _ in range(400):
        if placed >= want:
            break
        h, w = (int(rng.integers(6, 16)), int(rng.integers(6, 18)))
        y, x = int(rng.integers(1, n - h - 1)), int(rng.integers(1, n - w - 1))
        if g[y - 1 : y + h + 1, x - 1 : x + w + 1].any():
            continue
        g[y : y + h, x : x + w] = 1
        g[y + 1 : y + h - 1, x + 1 : x + w - 1] = 2
        side = int(rng.integers(4))
        if side == 0:
            g[y, x + w // 2] = 3
        elif side == 1:
            g[y + h - 1, x + w // 2] = 3
        elif side == 2:
            g[y + h // 2, x] = 3
        else:
            g[y + h // 2, x + w - 1] = 3
        placed += 1
    return g


def rooms_as_text(g: np.ndarray) -> list[str]:
    lut = np.array([" ", "#", ".", "+"])
    return ["".join(row) for row in lut[g]]


def draw_rooms(g: np.ndarray, walls: str, pitch: int = CELL, floor: bool = True) -> np.ndarray:
    """Hand-drawn rooms: block walls fill whole cells; line walls are 3 px strokes joining cell centres."""
    img = np.zeros((SIDE, SIDE), np.uint8)
    n = g.shape[0]
    c, half = pitch, pitch // 2
    wall = g == 1
    for r in range(n):
        for k in range(n):
            y, x = r * c, k * c
            if y + c > SIDE or x + c > SIDE:
                continue
            v = g[r, k]
            if v == 1:
                if walls == "block":
                    img[y : y + c, x : x + c] = 255
                else:
                    img[y + half - 1 : y + half + 2, x + half - 1 : x + half + 2] = 255
                    if r > 0 and wall[r - 1, k]:
                        img[y : y + half, x + half - 1 : x + half + 2] = 255
                    if r < n - 1 and wall[r + 1, k]:
                        img[y + half : y + c, x + half - 1 : x + half + 2] = 255
                    if k > 0 and wall[r, k - 1]:
                        img[y + half - 1 : y + half + 2, x : x + half] = 255
                    if k < n - 1 and wall[r, k + 1]:
                        img[y + half - 1 : y + half + 2, x + half : x + c] = 255
            elif v == 2 and floor:
                img[y + half - 1 : y + half + 1, x + half - 1 : x + half + 1] = 255
            elif v == 3:
                img[y + 3 : y + c - 3, x + 3] = 255
                img[y + 3 : y + c - 3, x + c - 4] = 255
                img[y + 3, x + 3 : x + c - 3] = 255
                img[y + c - 4, x + 3 : x + c - 3] = 255
    return img


# -- the kit's tiles, changed the way another renderer would change them ----------------------------


def _dilate(t: np.ndarray) -> np.ndarray:
    o = t.copy()
    o[1:] |= t[:-1]
    o[:-1] |= t[1:]
    o[:, 1:] |= t[:, :-1]
    o[:, :-1] |= t[:, 1:]
    return o


def _erode(t: np.ndarray) -> np.ndarray:
    return ~_dilate(~t)


def morphed_tiles(kind: str) -> dict[str, np.ndarray]:
    from ascii_lora.grid.atlas import get_atlas

    atlas = get_atlas(CELL)
    out = {}
    for ch, tile in zip(atlas.chars, atlas.tiles, strict=False):
        t = np.array(tile)
        if kind == "dilate":
            t = _dilate(t)
        elif kind == "erode":
            e = _erode(t)
            t = e if e.any() else t
        out[ch] = t.astype(np.uint8) * 255
    return out


def nudge(tile: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move a glyph inside its cell, only as far as it has blank margin (content never leaves the cell)."""
    ys, xs = np.nonzero(tile)
    if not len(ys):
        return tile
    dy = max(-int(ys.min()), min(dy, CELL - 1 - int(ys.max())))
    dx = max(-int(xs.min()), min(dx, CELL - 1 - int(xs.max())))
    return np.roll(tile, (dy, dx), (0, 1))


def atlas_layout(rng, family: str) -> list[str]:
    from ascii_lora.config.models import DatasetConfig
    from ascii_lora.dataset.families import FAMILIES

    lay = FAMILIES[family](rng, DatasetConfig())
    return lay.text().splitlines()


# -- degradations ------------------------------------------------------------------------------


def shift(img: np.ndarray, sx: int, sy: int) -> np.ndarray:
    out = np.zeros_like(img)
    out[sy:, sx:] = img[: SIDE - sy, : SIDE - sx]
    return out


def blur(img: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(sigma)))


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    import io

    buf = io.BytesIO()
    Image.fromarray(img).convert("RGB").save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


def noisy(img: np.ndarray, rng, levels: int = 3) -> np.ndarray:
    return np.clip(img.astype(np.int16) + rng.integers(-levels, levels + 1, img.shape), 0, 255).astype(
        np.uint8
    )


def free_text(rng, dense: bool) -> np.ndarray:
    """Proportional text placed anywhere, as a drawing program would, thresholded."""
    size = int(rng.integers(11, 16))
    font = ImageFont.load_default(size=size)
    im = Image.new("L", (SIDE, SIDE))
    d = ImageDraw.Draw(im)
    y = int(rng.integers(3, 20))
    step = size + int(rng.integers(2, 7)) if dense else size * int(rng.integers(4, 7))
    while y < SIDE - size:
        x = int(rng.integers(3, 30))
        words = " ".join(WORDS[int(i)] for i in rng.integers(len(WORDS), size=40))
        d.text((x, y), words, fill=255, font=font)
        y += step
    return (np.asarray(im) >= 128).astype(np.uint8) * 255


def rotate(img: np.ndarray, degrees: float) -> np.ndarray:
    return np.asarray(Image.fromarray(img).rotate(degrees, resample=Image.Resampling.NEAREST))


def smudge_half(img: np.ndarray, rng) -> np.ndarray:
    """Half the drawn cells become blobs that are no glyph at all (a model half-way to the grid)."""
    out = img.copy()
    cells = out.reshape(64, CELL, 64, CELL).transpose(0, 2, 1, 3)
    drawn = np.argwhere(cells.reshape(64, 64, -1).max(-1) > 0)
    pick = drawn[rng.random(len(drawn)) < 0.5]
    yy, xx = np.mgrid[0:CELL, 0:CELL]
    for r, c in pick:
        cy, cx = rng.uniform(2, 14, 2)
        ry, rx = rng.uniform(3, 9, 2)
        blob = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1 + 0.3 * rng.standard_normal((CELL, CELL))
        cells[r, c] = np.where(blob, 255, 0)
    return out


# -- the families ---------------------------------------------------------------------------------


def foreign_ongrid(rng, dense: bool) -> tuple[np.ndarray, str]:
    kind = rng.choice(["text", "map", "rooms_block", "rooms_line"])
    if kind == "text":
        return render(text_grid(rng, dense), pil_glyphs()), kind
    g = room_grid(rng, dense)
    if kind == "map":
        return render(rooms_as_text(g), pil_glyphs()), kind
    return draw_rooms(g, "block" if kind == "rooms_block" else "line"), kind


def family_cases(family: str, seed: int, count: int) -> list[Case]:
    out = []
    for i in range(count):
        rng = np.random.default_rng([seed, i, sum(map(ord, family))])
        dense = bool(i % 2 == 0)
        out.append(make_case(family, rng, dense))
    return out


def atlas_morph_case(family: str, rng, dense: bool, tag: str) -> Case:
    """Our own atlas glyphs, thickened, thinned or nudged: read, but each a little off the atlas."""
    kind = str(rng.choice(["dilate", "erode", "nudge"]))
    fam = str(
        rng.choice(["text", "dungeon", "cave", "rooms_and_mazes"] if dense else ["text", "corridor", "maze"])
    )
    grid = atlas_layout(rng, fam)
    if not dense:
        grid = [row if r % 3 == 0 else " " * len(row) for r, row in enumerate(grid)]
    tiles = morphed_tiles("none" if kind == "nudge" else kind)
    img = np.zeros((SIDE, SIDE), np.uint8)
    for r, row in enumerate(grid):
        for c, ch in enumerate(row):
            t = tiles[ch]
            if kind == "nudge" and ch not in "#-|{}[]~^<>*":
                t = nudge(t, int(rng.integers(-1, 2)), int(rng.integers(-1, 2)))
            img[r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL] = t
    return Case(family, img, True, True, note=f"{tag} {kind} {fam}")


def nothing_case(family: str, rng) -> Case:
    """A blank, specked, noisy or single-line picture: no grid at all."""
    kind = str(rng.choice(["blank", "specks", "noise", "line"]))
    img = np.zeros((SIDE, SIDE), np.uint8)
    if kind == "specks":
        for _ in range(int(rng.integers(3, 40))):
            y, x = rng.integers(0, SIDE - 4, 2)
            s = int(rng.integers(1, 4))
            img[y : y + s, x : x + s] = 255
    elif kind == "noise":
        img = np.where(rng.random((SIDE, SIDE)) < rng.uniform(0.002, 0.05), 255, 0).astype(np.uint8)
    elif kind == "line":
        im = Image.new("L", (SIDE, SIDE))
        pts = [tuple(int(v) for v in rng.integers(0, SIDE, 2)) for _ in range(2)]
        if rng.random() < 0.5:  # along the grid
            pts[1] = (pts[0][0], pts[1][1]) if rng.random() < 0.5 else (pts[1][0], pts[0][1])
        ImageDraw.Draw(im).line(pts, fill=255, width=int(rng.integers(1, 4)))
        img = np.asarray(im)
    if kind == "blank" and rng.random() < 0.5:
        img = noisy(img, rng, 3)
    return Case(family, img, False, False, offset=None, note=kind)


def make_case(family: str, rng, dense: bool) -> Case:
    tag = "dense" if dense else "sparse"
    if family == "foreign_text":
        return Case(family, render(text_grid(rng, dense), pil_glyphs()), True, True, note=tag)
    if family == "foreign_map":
        return Case(family, render(rooms_as_text(room_grid(rng, dense)), pil_glyphs()), True, True, note=tag)
    if family == "rooms":
        walls = str(rng.choice(["block", "line"]))
        return Case(
            family,
            draw_rooms(room_grid(rng, dense), walls, floor=bool(rng.random() < 0.7)),
            True,
            True,
            note=f"{tag} {walls}",
        )
    if family == "atlas_morph":
        return atlas_morph_case(family, rng, dense, tag)
    if family == "shifted":
        img, kind = foreign_ongrid(rng, dense)
        # glyphs are centred with >= 2 px margins: a shift of 5..11 px crosses every cell border;
        # block walls end on a boundary, so any shift at all moves them off it; line walls run
        # through cell centres: shifted 5..11 px they run along the cell borders instead. (A
        # smaller shift leaves glyphs and lines inside their cells: on the grid, as a reader says.)
        lo, hi = (1, 15) if kind == "rooms_block" else (5, 11)
        sx, sy = (int(v) for v in rng.integers(lo, hi + 1, 2))
        return Case(
            family,
            shift(img, sx, sy),
            True,
            False,
            offset=(sx, sy),
            offset_slack=0 if kind == "rooms_block" else 2,
            note=f"{tag} {kind} by {sx},{sy}",
        )
    if family == "wrong_pitch":
        pitch = int(rng.choice([12, 15, 17, 20]))
        kind = str(rng.choice(["text", "map", "rooms_block", "rooms_line"]))
        n = SIDE // pitch + 1
        if kind == "text":
            img = render(text_grid(rng, dense, n, n), pil_glyphs(pitch), pitch)
        elif kind == "map":
            img = render(rooms_as_text(room_grid(rng, dense, n)), pil_glyphs(pitch), pitch)
        else:
            img = draw_rooms(room_grid(rng, dense, n), kind[6:], pitch)
        return Case(
            family, img, True, False, offset=None, note=f"{tag} {kind} at {pitch} px", extra={"pitch": pitch}
        )
    if family == "off_grid":
        if rng.random() < 0.5:
            return Case(
                family, free_text(rng, dense), True, False, offset=None, note=f"{tag} free-placed text"
            )
        img, kind = foreign_ongrid(rng, dense)
        deg = float(rng.uniform(2, 8) * rng.choice([-1, 1]))
        return Case(
            family, rotate(img, deg), True, False, offset=None, note=f"{tag} {kind} rotated {deg:.1f}"
        )
    if family == "blurred":
        img, kind = foreign_ongrid(rng, dense)
        if rng.random() < 0.5:
            return Case(family, blur(img, 1.0), True, True, crisp=False, note=f"{tag} {kind} blur 1")
        grid = text_grid(rng, dense) if kind != "map" else rooms_as_text(room_grid(rng, dense))
        return Case(
            family,
            render(grid, pil_glyphs(threshold=False)),
            True,
            True,
            crisp=False,
            note=f"{tag} anti-aliased font",
        )
    if family == "nothing":
        return nothing_case(family, rng)
    if family == "smudged":
        img, kind = foreign_ongrid(rng, dense)
        return Case(
            family, smudge_half(img, rng), True, False, offset=None, note=f"{tag} {kind} half smudged"
        )
    if family == "jpeg_noise":
        img, kind = foreign_ongrid(rng, dense)
        return Case(family, noisy(jpeg(img, 90), rng, 3), True, True, note=f"{tag} {kind} jpeg q90 + noise")
    raise KeyError(family)


FAMILIES = (
    "foreign_text",
    "foreign_map",
    "rooms",
    "atlas_morph",
    "shifted",
    "wrong_pitch",
    "off_grid",
    "blurred",
    "nothing",
    "smudged",
    "jpeg_noise",
)
