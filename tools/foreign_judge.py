"""The foreign set against `ascii-lora check`: a person's view of each picture, and the agreement.

    python tools/foreign_judge.py sheet PART CLASS OUT.png   # what the person looked at (grid overlaid)
    python tools/foreign_judge.py agree [PART ...]           # agreement of `ascii-lora check` per class

The pictures come from tools/foreign_set.py; the person's verdicts, written while looking at the
sheets and without running the checker, live in tools/foreign_verdicts.json. A picture agrees
when all four criteria, the pass verdict and the offset (where the person gave one) match.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.foreign_set import CELL, CLASSES, PARTS, PER_CLASS, SIDE, Picture, pictures  # noqa: E402

VERDICTS = Path(__file__).with_name("foreign_verdicts.json")


def sheet(pics: list[Picture], out: Path, crop: int = 192, zoom: int = 2) -> None:
    """Each picture whole (downscaled) and a crop at 2x with the 16 px grid (phase 0) drawn over it."""
    tiles = []
    for p in pics:
        rgb = np.repeat(p.image[..., None], 3, axis=2).astype(np.uint8)
        ink = (p.image > 128).reshape(SIDE // 64, 64, SIDE // 64, 64).sum(axis=(1, 3))
        by, bx = np.unravel_index(np.argmax(ink), ink.shape)  # the inkiest 64 px block, centred
        y0, x0 = (max(0, min(SIDE - crop, int(v) * 64 + 32 - crop // 2)) // CELL * CELL for v in (by, bx))
        part = rgb[y0 : y0 + crop, x0 : x0 + crop].repeat(zoom, 0).repeat(zoom, 1)
        part[:: CELL * zoom] = (40, 110, 255)
        part[:, :: CELL * zoom] = (40, 110, 255)
        whole = np.asarray(Image.fromarray(p.image).resize((crop * zoom, crop * zoom), Image.Resampling.BOX))
        gap = np.full((crop * zoom, 6, 3), 90, np.uint8)
        tile = np.concatenate([np.repeat(whole[..., None], 3, 2), gap, part], 1)
        tiles.append(np.pad(tile, ((0, 6), (0, 6), (0, 0)), constant_values=90))
    rows = [
        np.concatenate(tiles[i : i + 2] + [np.zeros_like(tiles[0])] * (2 - len(tiles[i : i + 2])), 1)
        for i in range(0, len(tiles), 2)
    ]
    Image.fromarray(np.concatenate(rows, 0)).save(out)


def load_verdicts() -> dict:
    return json.loads(VERDICTS.read_text())


def agrees(verdict: dict, report) -> bool:
    """All four criteria, the pass verdict, and the offset where the person saw one."""
    c = report.criteria
    seen = (verdict["content"], verdict["black_background"], verdict["crisp"], verdict["aligned"])
    if (c["content"], c["black_background"], c["crisp"], c["grid_aligned"]) != seen:
        return False
    if report.passed != all(seen):
        return False
    want = verdict.get("offset")
    return want is None or report.offset == list(want)


def read_right(pic: Picture, reading) -> tuple[int, int]:
    """(drawn cells read back as the character drawn, drawn cells) at phase 0."""
    if pic.truth is None or reading is None or reading.offset != (0, 0):
        n = sum(ch != " " for row in (pic.truth or []) for ch in row)
        return 0, n
    codes = reading.codes
    right = total = 0
    for r, row in enumerate(pic.truth[: codes.shape[0]]):
        for c, ch in enumerate(row[: codes.shape[1]]):
            if ch != " ":
                total += 1
                right += int(codes[r, c]) == ord(ch)
    return right, total


def agreement(part: str, classes=CLASSES) -> dict:
    """Per class: (agreeing pictures, pictures, misses) and the kit_1px read-back (right, drawn)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from ascii_lora.check.score import check_gray
    from ascii_lora.config.models import CheckConfig
    from ascii_lora.grid.atlas import get_atlas

    cfg, atlas, verdicts = CheckConfig(), get_atlas(CELL), load_verdicts()[part]
    out: dict = {"classes": {}, "read": [0, 0]}
    for klass in classes:
        ok, misses, spent = 0, [], 0.0
        for p in pictures(part, klass):
            start = time.perf_counter()
            report, reading = check_gray(p.key, p.image.astype(np.float32), cfg, atlas)
            spent += time.perf_counter() - start
            if agrees(verdicts[p.key], report):
                ok += 1
            else:
                misses.append(f"{p.key} ({p.what}): {report.criteria} offset {report.offset} {report.notes}")
            if klass == "kit_1px":
                right, total = read_right(p, reading)
                out["read"][0] += right
                out["read"][1] += total
        out["classes"][klass] = (ok, PER_CLASS, misses)
        out.setdefault("ms", {})[klass] = 1000 * spent / PER_CLASS
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["sheet"]:
        sheet(pictures(argv[1], argv[2]), Path(argv[3]))
        for p in pictures(argv[1], argv[2]):
            print(p.key, p.what)
        return 0
    if argv[:1] == ["agree"]:
        for part in argv[1:] or list(PARTS):
            res = agreement(part)
            print(f"part {part}\n| class | agree | ms/picture |\n|---|---:|---:|")
            for klass, (ok, n, misses) in res["classes"].items():
                print(f"| {klass} | {ok}/{n} | {res['ms'][klass]:.0f} |")
                for m in misses:
                    print(f"  miss: {m}", file=sys.stderr)
            total = sum(v[0] for v in res["classes"].values())
            right, drawn = res["read"]
            print(f"overall {total}/{PER_CLASS * len(res['classes'])}; kit_1px read-back {right}/{drawn}")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
