"""`ascii-lora dataset` writes a perfect, reproducible, resumable training set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import BaseModel

from ascii_lora.config.models import DatasetConfig
from ascii_lora.dataset.sample import family_schedule
from ascii_lora.dataset.validate import validate_dir
from ascii_lora.dataset.writer import fingerprint, write_dataset
from ascii_lora.errors import UserError

COUNT = 14


def small(**kw) -> DatasetConfig:
    return DatasetConfig(count=kw.pop("count", COUNT), seed=kw.pop("seed", 5), **kw)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "data"
    write_dataset(small(), out, workers=1)
    return out


def test_writes_png_caption_and_ground_truth_for_every_image(built):
    names = sorted(p.name for p in built.iterdir())
    pngs = [n for n in names if n.endswith(".png")]
    assert len(pngs) == COUNT
    for png in pngs:
        stem = png[:-4]
        assert f"{stem}.txt" in names and f"{stem}.ascii" in names
        family, index = stem.rsplit("_", 1)
        assert len(index) == 5
        caption = (built / f"{stem}.txt").read_text()
        assert caption.endswith("\n") and caption.count("\n") == 1, caption  # one line, as Kohya reads it
    assert "manifest.json" in names


def test_a_sample_knows_its_family_and_name():
    from ascii_lora.dataset.sample import make_sample

    s = make_sample(small(), "maze", 12)
    assert (s.name, s.family) == ("maze_00012", "maze")


def test_pngs_are_exact_black_and_white_and_convert_to_rgb_losslessly(built):
    for png in sorted(built.glob("*.png"))[:5]:
        with Image.open(png) as im:
            assert im.size == (1024, 1024) and im.mode == "1"
            gray = np.asarray(im.convert("L"))
            rgb = np.asarray(im.convert("RGB"))
        assert set(np.unique(gray).tolist()) <= {0, 255}
        assert np.array_equal(rgb[..., 0], gray) and np.array_equal(rgb[..., 2], gray)


def test_every_family_is_present_in_the_configured_mix(built):
    families = {p.stem.rsplit("_", 1)[0] for p in built.glob("*.png")}
    assert families == set(DatasetConfig().mix.weights())


def test_manifest_records_config_seed_version_counts_and_hashes(built):
    import hashlib

    m = json.loads((built / "manifest.json").read_text())
    assert m["status"] == "complete" and m["seed"] == 5 and m["count"] == COUNT
    assert m["versions"]["ascii_lora"] and m["versions"]["numpy"]
    assert sum(m["families"].values()) == COUNT
    assert m["config"]["resolution"] == 1024
    assert m["atlas"] == {"tiles": 95, "cell": 16, "min_hamming": 4, "closest_pair": "Il"}
    assert len(m["files"]) == 3 * COUNT
    for name, digest in m["files"].items():
        assert hashlib.sha256((built / name).read_bytes()).hexdigest() == digest


def test_validate_accepts_the_dataset(built):
    n, problems = validate_dir(built, 1024, 16)
    assert n == COUNT and problems == []


def test_byte_identical_whatever_the_number_of_workers(built, tmp_path):
    write_dataset(small(), tmp_path / "two", workers=2)
    a, b = snapshot(built), snapshot(tmp_path / "two")
    a_manifest, b_manifest = json.loads(a.pop("manifest.json")), json.loads(b.pop("manifest.json"))
    assert a == b
    assert a_manifest["files"] == b_manifest["files"]


def test_a_hundred_images_are_a_hundred_different_pictures(tmp_path):
    """Reproducible must not mean repeated: every image, caption and ground truth is its own."""
    import hashlib

    out = tmp_path / "hundred"
    write_dataset(small(count=100), out, workers=1)
    for ext in (".png", ".txt", ".ascii"):
        digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in out.glob(f"*{ext}")]
        assert len(digests) == 100 and len(set(digests)) == 100, ext


def test_image_i_depends_only_on_seed_and_i(built, tmp_path):
    write_dataset(small(count=COUNT + 7), tmp_path / "more", workers=1)
    bigger = snapshot(tmp_path / "more")
    for name, data in snapshot(built).items():
        if name != "manifest.json":
            assert bigger[name] == data


def test_another_seed_draws_another_dataset(built, tmp_path):
    write_dataset(small(seed=6), tmp_path / "other", workers=1)
    assert snapshot(built)["dungeon_00000.png"] != snapshot(tmp_path / "other")["dungeon_00000.png"]


def test_rerun_rewrites_nothing_identical(tmp_path):
    out = tmp_path / "d"
    write_dataset(small(), out)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != "manifest.json"}
    summary = write_dataset(small(), out)
    assert summary.written == 0 and summary.skipped == COUNT
    assert stamps == {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != "manifest.json"}


def test_interrupted_run_is_completed_and_damage_repaired(tmp_path):
    out = tmp_path / "d"
    write_dataset(small(), out)
    good = snapshot(out)
    first, second = sorted(out.glob("*.png"))[:2]
    first.unlink()
    second.with_suffix(".txt").write_text("garbage")
    (out / ".ascii-lora-tmp-abc12345").write_bytes(b"half a file")  # named as mkstemp names it
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["status"], manifest["files"] = "incomplete", {}
    (out / "manifest.json").write_text(json.dumps(manifest))  # as if killed mid-run
    summary = write_dataset(small(), out)
    assert summary.written == 2
    now = snapshot(out)
    assert {k: v for k, v in now.items() if k != "manifest.json"} == {
        k: v for k, v in good.items() if k != "manifest.json"
    }


def test_smaller_count_removes_images_past_the_end(tmp_path):
    out = tmp_path / "d"
    write_dataset(small(), out)
    summary = write_dataset(small(count=7), out)
    assert len(list(out.glob("*.png"))) == 7 and summary.removed == 3 * (COUNT - 7)


def test_directory_of_another_config_is_refused_unless_forced(tmp_path):
    out = tmp_path / "d"
    write_dataset(small(), out)
    with pytest.raises(UserError, match="another config.*--force"):
        write_dataset(small(seed=9), out)
    write_dataset(small(seed=9), out, force=True)
    assert json.loads((out / "manifest.json").read_text())["seed"] == 9
    n, problems = validate_dir(out, 1024, 16)
    assert n == COUNT and not problems


def test_directory_with_foreign_files_is_refused(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(UserError, match="not part of an ascii-lora dataset"):
        write_dataset(small(), out)


def test_output_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        write_dataset(small(), tmp_path / "f")


def test_family_schedule_keeps_the_mix_in_every_prefix():
    weights = {"a": 2.0, "b": 1.0, "c": 0.0}
    seq = family_schedule(weights, 300)
    assert "c" not in seq
    for n in (3, 30, 300):
        assert abs(seq[:n].count("a") - 2 * n / 3) <= 1
    assert family_schedule(weights, 10) == seq[:10]


def test_family_schedule_is_smooth_weighted_round_robin():
    """nginx's smooth weighted round robin: the textbook 5:1:1 order, and equal weights take turns."""
    assert "".join(family_schedule({"a": 5, "b": 1, "c": 1}, 14)) == "aabacaa" * 2
    assert "".join(family_schedule({"a": 1.0, "b": 1.0, "c": 1.0}, 6)) == "abcabc"
    assert (
        "".join(family_schedule({"a": 0.5, "b": 0.25}, 6)) == "abaaba"
    )  # fractional weights are weights too


# Every setting that decides what an image looks like, with another valid value. A reused dataset
# directory is trusted by its fingerprint, so a setting missing from it would silently keep the
# images of the old value.
CONTENT_CHANGES = {
    "seed": 6,
    "resolution": 512,
    "cell_size": 8,
    "outline_chance": 0.9,
    "mix.dungeon": 0.5,
    "mix.rooms_and_mazes": 0.5,
    "mix.cave": 0.5,
    "mix.maze": 0.5,
    "mix.corridor": 0.5,
    "mix.text": 0.5,
    "mix.mixed": 0.5,
    "dungeon.min_leaf": (9, 12),
    "dungeon.room_fill": (0.5, 0.6),
    "rooms_and_mazes.room_attempts": 30,
    "rooms_and_mazes.room_size": (5, 9),
    "rooms_and_mazes.extra_door_chance": 0.2,
    "cave.fill": (0.4, 0.5),
    "cave.iterations": 3,
    "cave.min_chamber": 20,
    "maze.nodes": (10, 20),
    "maze.algorithms": ["prim"],
    "corridor.count": (1, 2),
    "corridor.width": (2, 2),
    "corridor.segment": (8, 20),
    "text.terminal_chance": 0.9,
    "text.uppercase_chance": 0.9,
    "mixed.cave_leaf_chance": 0.7,
}


def _leaf_fields(model, prefix: str = "") -> set[str]:
    out = set()
    for name, _info in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out |= _leaf_fields(value, f"{prefix}{name}.")
        else:
            out.add(prefix + name)
    return out


def test_fingerprint_covers_every_content_setting_and_nothing_else():
    base = small()
    assert _leaf_fields(base) - {"count", "out"} == set(CONTENT_CHANGES), "a new setting needs a row here"
    for path, value in CONTENT_CHANGES.items():
        data = base.model_dump()
        *parents, leaf = path.split(".")
        node = data
        for p in parents:
            node = node[p]
        assert node[leaf] != value, path
        node[leaf] = value
        assert fingerprint(DatasetConfig.model_validate(data)) != fingerprint(base), (
            f"fingerprint ignores {path}"
        )
    assert fingerprint(base) == fingerprint(small(count=99, out="elsewhere"))


def test_validate_reports_each_broken_file(built, tmp_path):
    import shutil

    d = tmp_path / "broken"
    shutil.copytree(built, d)
    pngs = sorted(d.glob("*.png"))
    img = np.asarray(Image.open(pngs[0]).convert("L")).copy()  # a grey pixel needs 8 bits
    img[5, 5] = 128
    Image.fromarray(img).save(pngs[0])
    img = np.asarray(Image.open(pngs[1]).convert("L")).copy()
    img[:16, :16] = 255 - img[:16, :16]
    Image.fromarray(img).save(pngs[1])
    pngs[2].with_suffix(".txt").write_text("no trigger here\n")
    pngs[3].with_suffix(".ascii").unlink()
    text = pngs[4].with_suffix(".ascii").read_text()
    pngs[4].with_suffix(".ascii").write_text(("Q" if text[0] != "Q" else "R") + text[1:])
    Image.new("L", (512, 512)).save(pngs[5])
    n, problems = validate_dir(d, 1024, 16)
    by_file: dict[str, str] = {}
    for p in problems:  # every file edited here also differs from the sha256 its manifest recorded
        by_file[p.file] = by_file.get(p.file, "") + p.message + " | "
    assert (
        "sha256 differs" in by_file[pngs[0].name] and "sha256 differs" not in by_file[pngs[3].name]
    )  # a missing file: said once
    assert "neither 0 nor 255" in by_file[pngs[0].name]
    assert "match no atlas tile" in by_file[pngs[1].name] or "differs" in by_file[pngs[1].name]
    assert "trigger word" in by_file[pngs[2].name]
    assert ".ascii is missing" in by_file[pngs[3].name]
    assert "differs from .ascii in 1 cells" in by_file[pngs[4].name]
    assert "expected 1024x1024" in by_file[pngs[5].name]
    assert len(by_file) == 6


def test_validate_refuses_a_caption_of_two_lines(built, tmp_path):
    import shutil

    d = tmp_path / "two_lines"
    shutil.copytree(built, d)
    txt = sorted(d.glob("*.txt"))[0]
    txt.write_text(txt.read_text() + "a second line\n")
    n, problems = validate_dir(d, 1024, 16)
    assert [(p.file, p.message) for p in problems][0] == (
        txt.with_suffix(".png").name,
        "caption must be exactly one non-empty line",
    )
    assert len(problems) == 2 and "sha256 differs" in problems[1].message


def test_trainer_caches_are_tolerated_and_dropped_when_their_image_changes(tmp_path):
    out = tmp_path / "d"
    write_dataset(small(), out)
    pngs = sorted(out.glob("*.png"))
    kept, redrawn = pngs[0].stem, pngs[1].stem
    for stem in (kept, redrawn):
        (out / f"{stem}_1024x1024_flux.npz").write_bytes(b"latents")
        (out / f"{stem}_flux_te.npz").write_bytes(b"encodings")
    (out / f"{redrawn}.png").write_bytes(b"damaged")
    write_dataset(small(), out)  # not refused: the caches are the trainer's, not foreign files
    assert (out / f"{kept}_1024x1024_flux.npz").exists() and (out / f"{kept}_flux_te.npz").exists()
    assert not list(out.glob(f"{redrawn}_*.npz"))
