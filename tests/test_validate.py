"""`validate` names every way a training pair can be broken, per file, and never crashes on one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ascii_lora.config.models import DatasetConfig
from ascii_lora.dataset.validate import validate_dir
from ascii_lora.dataset.writer import write_dataset
from ascii_lora.errors import UserError

RES = 384  # 24 cells: a small but real dataset


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("v") / "data"
    write_dataset(DatasetConfig(count=3, seed=1, resolution=RES), out, workers=1)
    return out


def broken(good: Path, tmp_path: Path, hashes: bool = False) -> tuple[Path, list[Path]]:
    """A copy of the good dataset to break. Without ``hashes`` its manifest lists no sha256 (as a hand-made
    or older one): every edit would otherwise also be a hash mismatch, and these tests judge the content checks."""
    d = tmp_path / "d"
    shutil.copytree(good, d)
    if not hashes:
        m = json.loads((d / "manifest.json").read_text())
        m["files"] = {}
        (d / "manifest.json").write_text(json.dumps(m))
    return d, sorted(d.glob("*.png"))


def problems_of(d: Path, resolution: int = RES, cell: int = 16) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in validate_dir(d, resolution, cell)[1]:
        out.setdefault(p.file, []).append(p.message)
    return out


def test_a_good_dataset_has_no_problems_and_reports_progress(good):
    seen = []

    def progress(items, total):
        seen.append(total)
        return items

    assert validate_dir(good, RES, 16, progress) == (3, [])
    assert seen == [3]


def test_missing_or_unreadable_caption_and_orphans(good, tmp_path):
    d, pngs = broken(good, tmp_path)
    pngs[0].with_suffix(".txt").unlink()
    pngs[1].with_suffix(".txt").write_bytes(b"ascii_structure_style, \xff\xfe not utf-8\n")
    (d / "stray_00099.ascii").write_text("x\n")
    found = problems_of(d)
    assert found[pngs[0].name] == ["caption .txt is missing"]
    # sd-scripts opens captions as strict UTF-8 and raises UnicodeDecodeError at start: never a replacement character
    assert found[pngs[1].name] == [
        f"caption {pngs[1].stem}.txt is not UTF-8 (byte 23); the trainer stops on it at start"
    ]
    assert found["stray_00099"] == ["caption or .ascii without a PNG"]
    assert len(found) == 3


def test_unreadable_wrong_mode_and_one_bit_pngs(good, tmp_path):
    d, pngs = broken(good, tmp_path)
    pngs[0].write_bytes(b"not a png at all")
    gray = np.asarray(Image.open(pngs[1]).convert("L"))
    Image.fromarray(gray).convert("RGB").save(pngs[1])
    own = np.asarray(Image.open(pngs[2]).convert("L"))
    Image.fromarray(own).convert("1", dither=Image.Dither.NONE).save(
        pngs[2]
    )  # 1-bit is a valid binary picture
    found = problems_of(d)
    assert found[pngs[0].name] == ["unreadable PNG (UnidentifiedImageError)"]
    assert found[pngs[1].name] == ["PNG mode RGB, expected 8-bit grayscale L or 1-bit"]
    assert pngs[2].name not in found


def test_ground_truth_of_wrong_shape_or_with_foreign_characters(good, tmp_path):
    d, pngs = broken(good, tmp_path)
    text = pngs[0].with_suffix(".ascii").read_text()
    pngs[0].with_suffix(".ascii").write_text(text.replace("\n", "", 1))
    lines = pngs[1].with_suffix(".ascii").read_text(encoding="ascii").split("\n")
    first = lines[0]
    lines[0] = "\u00e9" + first[1:]  # not ASCII (one latin-1 byte): no cell of a picture can hold it
    pngs[1].with_suffix(".ascii").write_text("\n".join(lines), encoding="latin-1")
    found = problems_of(d)
    assert found[pngs[0].name] == [".ascii is not 24 lines of 24 characters"]
    assert found[pngs[1].name] == ["ground truth .ascii holds non-ASCII text (first on line 1)"]


def test_geometry_comes_from_the_manifest_and_a_broken_manifest_is_refused(good, tmp_path):
    d, pngs = broken(good, tmp_path)
    assert problems_of(d, resolution=1024, cell=16) == {}  # the manifest says 384
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["config"]["resolution"] = 768
    (d / "manifest.json").write_text(json.dumps(manifest))
    assert set(problems_of(d)) == {p.name for p in pngs}
    assert problems_of(d)[pngs[0].name] == ["size 384x384, expected 768x768"]
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(
        UserError, match="not a readable manifest"
    ):  # a corrupt manifest is never trusted nor ignored
        problems_of(d)
    manifest["config"] = {"resolution": "big"}
    (d / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="manifest"):
        problems_of(d)


def test_truncated_png_mismatched_cells_and_missing_truth(good, tmp_path):
    d, pngs = broken(good, tmp_path)
    data = pngs[0].read_bytes()
    pngs[0].write_bytes(data[: len(data) // 2])  # opens (header intact), fails to decode
    img = np.asarray(Image.open(pngs[1]).convert("L")).copy()
    img[16:32, 32:48] = 255 - img[16:32, 32:48]  # cell (1, 2) inverted: no tile looks like that
    Image.fromarray(img).save(pngs[1])  # 8-bit L: a valid mode
    pngs[2].with_suffix(".ascii").unlink()
    (d / "orphan_00042.txt").write_text("ascii_structure_style, x\n")
    found = problems_of(d)
    (truncated,) = found[pngs[0].name]
    assert truncated.startswith("truncated or corrupt image (")
    assert found[pngs[1].name][0] == "1 cells match no atlas tile (first at row 1, col 2)"
    assert found[pngs[1].name][1].startswith("read-back differs from .ascii in 1 cells (first row 1, col 2: ")
    assert found[pngs[2].name] == ["ground truth .ascii is missing"]
    assert found["orphan_00042"] == ["caption or .ascii without a PNG"]


def test_ground_truth_lines_counted_exactly_and_decoded_as_ascii(good, tmp_path):
    d, pngs = broken(good, tmp_path)
    text = pngs[0].with_suffix(".ascii").read_text()
    pngs[0].with_suffix(".ascii").write_text(text.rstrip("\n"))  # no final newline: still 24 lines
    pngs[1].with_suffix(".ascii").write_text("".join(text.splitlines(keepends=True)[:-1]))  # 23 full lines
    lines = pngs[2].with_suffix(".ascii").read_text().split("\n")
    lines[0] = "\u00e9" + lines[0][1:]  # not ASCII: one character per cell cannot hold it
    pngs[2].with_suffix(".ascii").write_text("\n".join(lines), encoding="utf-8")
    found = problems_of(d)
    assert pngs[0].name not in found
    assert found[pngs[1].name] == [".ascii is not 24 lines of 24 characters"]
    assert found[pngs[2].name] == ["ground truth .ascii holds non-ASCII text (first on line 1)"]
