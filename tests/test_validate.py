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


# -- what each problem says, word for word (the hostile-input table checks them through the CLI too) --


def test_other_images_the_trainer_would_take_are_named_and_hidden_ones_are_not(good, tmp_path):
    d, _ = broken(good, tmp_path)
    (d / "extra.jpg").write_bytes(b"not really a jpeg")
    (d / "LOUD.WEBP").write_bytes(b"x")
    (d / ".hidden.png").write_bytes(b"glob's * skips hidden names, and so does the trainer")
    found = problems_of(d)
    for name, suffix in (("extra.jpg", ".jpg"), ("LOUD.WEBP", ".WEBP")):
        assert found[name] == [
            f"the trainer would train on this {suffix} too, but the dataset is PNGs drawn by "
            "`ascii-lora dataset`; move it out of the folder"
        ]
    assert ".hidden.png" not in found and len(found) == 2


def test_an_incomplete_or_thinned_dataset_says_how_to_restore_it(good, tmp_path):
    d, pngs = broken(good, tmp_path)
    redo = f"run `ascii-lora dataset --out {d} --count 3 --seed 1` with the --config that wrote it"
    for ext in (".png", ".txt", ".ascii"):
        pngs[0].with_suffix(ext).unlink()
    assert problems_of(d)["manifest.json"] == [
        f"holds 2 of the 3 images the manifest lists; {redo} to restore the missing ones"
    ]
    m = json.loads((d / "manifest.json").read_text())
    m["status"] = "incomplete"
    (d / "manifest.json").write_text(json.dumps(m))
    assert problems_of(d)["manifest.json"] == [
        f"the dataset is incomplete: 2 of 3 images (an interrupted `ascii-lora dataset`); {redo} to complete it"
    ]


def test_an_unlisted_sample_and_a_swapped_caption_are_named(good, tmp_path):
    d, pngs = broken(good, tmp_path, hashes=True)
    for ext in (".png", ".txt", ".ascii"):
        shutil.copy(pngs[0].with_suffix(ext), (d / "sample_99999").with_suffix(ext))
    a, b = pngs[1].with_suffix(".txt"), pngs[2].with_suffix(".txt")
    a_text, b_text = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_text)
    b.write_bytes(a_text)
    found = problems_of(d)
    assert found["sample_99999.png"] == [
        "not part of this dataset (its manifest does not list it), yet the trainer would train on it; "
        "move it out of the folder"
    ]
    for caption in (a, b):
        assert found[caption.with_suffix(".png").name] == [
            f"{caption.name} is not the file `ascii-lora dataset` wrote (its sha256 differs from the "
            "manifest's): edited, swapped or damaged; re-run `ascii-lora dataset` to restore it"
        ]


@pytest.mark.parametrize(
    "caption, says",
    [
        ("ascii_structure_style,\n", True),
        ("ascii_structure_style, ,\n", True),
        ("ascii_structure_style, X\n", False),  # a one-letter description is still one
        ("ascii_structure_style, a map\n", False),
    ],
)
def test_a_caption_of_only_the_trigger_word_is_named(good, tmp_path, caption, says):
    d, pngs = broken(good, tmp_path)
    pngs[0].with_suffix(".txt").write_text(caption)
    only = "caption holds only the trigger word, nothing that describes the picture"
    assert (only in problems_of(d).get(pngs[0].name, [])) is says


def test_a_folder_in_place_of_a_caption_or_a_png_is_one_plain_problem(good, tmp_path):
    d, pngs = broken(good, tmp_path)
    pngs[0].with_suffix(".txt").unlink()
    pngs[0].with_suffix(".txt").mkdir()
    for ext in (".png", ".txt", ".ascii"):
        pngs[1].with_suffix(ext).unlink()
    pngs[1].mkdir()  # the trainer's glob takes a folder named like an image
    found = problems_of(d)
    assert found[pngs[0].name] == [f"caption {pngs[0].stem}.txt: is a directory, not a regular file"]
    assert found[pngs[1].name] == ["caption .txt is missing", "is a directory, not a regular file"]


def test_the_first_non_ascii_line_of_the_ground_truth_is_named(good, tmp_path):
    d, pngs = broken(good, tmp_path)
    truth = pngs[0].with_suffix(".ascii")
    lines = truth.read_text().split("\n")
    lines[1] = " " * len(lines[1])  # a blank row of cells: a line all the same
    lines[4] = "é" + lines[4][1:]
    truth.write_text("\n".join(lines))
    assert "ground truth .ascii holds non-ASCII text (first on line 5)" in problems_of(d)[pngs[0].name]
