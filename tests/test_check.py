"""`ascii-lora check`: clean pictures pass and read back exactly; each degradation fails its criterion."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from ascii_lora.check.ranking import parse_sample_name, rank
from ascii_lora.check.score import check_file, check_gray
from ascii_lora.cli import main
from ascii_lora.config.models import CheckConfig, DatasetConfig
from ascii_lora.dataset.families import FAMILIES
from ascii_lora.dataset.writer import write_dataset
from ascii_lora.grid.atlas import get_atlas

CFG = CheckConfig()
ATLAS = get_atlas(16)


def picture(family: str, seed: int = 0) -> tuple[np.ndarray, str]:
    lay = FAMILIES[family](np.random.default_rng([11, seed]), DatasetConfig())
    return ATLAS.render_gray(lay.grid), lay.text()


def check(gray: np.ndarray):
    return check_gray("x", np.asarray(gray, dtype=np.float32), CFG, ATLAS)[0]


def png_roundtrip(gray: np.ndarray, mode: str = "L", fmt: str = "PNG", **kw) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(gray).convert(mode).save(buf, fmt, **kw)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("d") / "data"
    write_dataset(DatasetConfig(count=14, seed=3), out)
    return out


def test_generated_images_pass_and_read_back_to_their_ascii(dataset):
    for png in sorted(dataset.glob("*.png")):
        report, _, _ = check_file(png, CFG, ATLAS)
        assert report.passed, (png.name, report.criteria, report.notes)
        assert report.offset == [0, 0] and report.cell_size == 16.0 and report.cell_agreement == 1.0
        assert report.purity == 1.0 and report.grey_fraction == 0.0
        assert report.ascii == png.with_suffix(".ascii").read_text()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_small_vae_like_noise_still_passes(family):
    g, truth = picture(family)
    noisy = np.clip(g.astype(int) + np.random.default_rng(0).integers(-4, 5, g.shape), 0, 255)
    r = check(noisy)
    assert r.passed and r.ascii == truth and r.purity < 1.0  # reported, not required


@pytest.mark.parametrize("family", ["dungeon", "cave", "text", "corridor"])
def test_gaussian_blur_is_not_crisp(family):
    g, _ = picture(family)
    r = check(np.asarray(Image.fromarray(g).filter(ImageFilter.GaussianBlur(1))))
    assert not r.criteria["crisp"] and not r.passed


@pytest.mark.parametrize("family", ["dungeon", "cave", "text", "corridor"])
def test_heavy_jpeg_is_not_crisp_and_mild_jpeg_ringing_is(family):
    """At quality 20 blocks and smears put 9-36 % of the edge pixels between black and white;
    at 75 the ringing stays within 15 % of the contrast of either level (measured: 0 %)."""
    heavy = check(png_roundtrip(picture(family)[0], "RGB", "JPEG", quality=20))
    assert not heavy.criteria["crisp"] and not heavy.passed
    mild = check(png_roundtrip(picture(family)[0], "RGB", "JPEG", quality=75))
    assert mild.criteria["crisp"] and mild.passed


@pytest.mark.parametrize("family", ["dungeon", "maze", "text"])
def test_every_one_of_the_256_shifts_is_found_exactly_and_fails_alignment(family):
    g, truth = picture(family)
    rows = truth.splitlines()
    for sy in range(16):
        for sx in range(16):
            shifted = np.zeros_like(g)
            shifted[sy:, sx:] = g[: g.shape[0] - sy, : g.shape[1] - sx]
            r = check(shifted)
            assert r.offset == [sx, sy], (sx, sy, r.offset)
            assert r.criteria["grid_aligned"] == (sx == 0 and sy == 0)
            n_rows, n_cols = (1024 - sy) // 16, (1024 - sx) // 16
            assert r.ascii.splitlines() == [row[:n_cols] for row in rows[:n_rows]]


@pytest.mark.parametrize("family", ["dungeon", "text", "rooms_and_mazes"])
def test_grey_or_inverted_background_is_not_black(family):
    g, _ = picture(family)
    assert not check(np.maximum(g, 40)).criteria["black_background"]
    assert not check(255 - g).criteria["black_background"]
    assert check(g).criteria["black_background"]


@pytest.mark.parametrize("scale", [0.96, 0.97, 1.03, 1.05])
@pytest.mark.parametrize("family", ["dungeon", "maze", "text"])
def test_rescale_by_a_few_percent_is_not_aligned(family, scale):
    g, _ = picture(family)
    side = round(1024 * scale)
    big = Image.fromarray(g).resize((side, side), Image.Resampling.NEAREST)
    canvas = Image.new("L", (1024, 1024))
    canvas.paste(big, (0, 0))
    r = check(np.asarray(canvas))
    assert not r.criteria["grid_aligned"] and not r.passed


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "1", "I;16"])
def test_every_input_mode_reads_the_same(tmp_path, mode):
    g, truth = picture("dungeon")
    path = tmp_path / f"x_{mode.replace(';', '')}.png"
    if mode == "I;16":
        Image.fromarray(g.astype(np.uint16) * 257).save(path)
    else:
        Image.fromarray(g).convert(mode).save(path)
    report, _, _ = check_file(path, CFG, ATLAS)
    assert report.error is None and report.passed and report.ascii == truth


def test_transparent_pixels_count_as_black_background(tmp_path):
    g, _ = picture("text")
    rgba = np.zeros((1024, 1024, 4), dtype=np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = g  # white where drawn, fully transparent elsewhere
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    assert check_file(tmp_path / "t.png", CFG, ATLAS)[0].passed


def test_size_not_a_multiple_of_the_cell_is_reported_not_crashed(tmp_path):
    g, _ = picture("maze")
    r = check(g[:1000, :1010])
    assert r.size == [1010, 1000] and not r.criteria["grid_aligned"]
    assert any("not a multiple" in n for n in r.notes)
    tiny = check(np.zeros((8, 8)))
    assert tiny.cell_agreement is None and "smaller than one" in tiny.notes[0]


def test_bad_files_are_one_line_each(tmp_path):
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    good = io.BytesIO()
    Image.fromarray(picture("dungeon")[0]).save(good, "PNG")
    (tmp_path / "cut.png").write_bytes(good.getvalue()[:2000])
    Image.new("1", (9000, 9000)).save(tmp_path / "bomb.png")
    for name, expected in (
        ("zero.png", "not an image"),
        ("text.png", "not an image"),
        ("cut.png", "truncated"),
        ("bomb.png", "larger than"),
        ("missing.png", "not found"),
    ):
        report = check_file(tmp_path / name, CFG, ATLAS)[0]
        assert report.error and expected in report.error and "\n" not in report.error, (name, report.error)
        assert not report.passed


def test_sample_names_of_sd_scripts_are_parsed():
    assert parse_sample_name("flux_ascii_v1_000500_03_20261125120000_1234") == ("flux_ascii_v1", "step", 500)
    assert parse_sample_name("flux_ascii_v1_000500_03_20261125120000") == ("flux_ascii_v1", "step", 500)
    assert parse_sample_name("flux_ascii_v1_e000002_00_20261125120000") == ("flux_ascii_v1", "epoch", 2)
    assert parse_sample_name("holiday_photo") is None


def _samples(folder: Path, plan: dict[int, list[np.ndarray]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for step, images in plan.items():
        for k, img in enumerate(images):
            Image.fromarray(img).convert("RGB").save(
                folder / f"flux_ascii_structure_v1_{step:06d}_{k:02d}_20261125120000_42.png"
            )


def test_cli_ranks_checkpoints_writes_report_chart_json_overlays_ascii(tmp_path, capsys):
    clean = [picture("dungeon", s)[0] for s in range(2)]
    blurred = [np.asarray(Image.fromarray(c).filter(ImageFilter.GaussianBlur(1))) for c in clean]
    shifted = [np.roll(c, (2, 6), (0, 1)) for c in clean]
    run = tmp_path / "run"
    _samples(run / "sample", {0: clean, 250: blurred, 500: clean, 750: shifted})
    (run / "flux_ascii_structure_v1-step00000500.safetensors").write_bytes(b"x")
    code = main(
        [
            "check",
            str(run / "sample"),
            "--json",
            str(tmp_path / "r.json"),
            "--overlay-dir",
            str(tmp_path / "ov"),
            "--ascii-dir",
            str(tmp_path / "asc"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1  # some samples fail
    data = json.loads((tmp_path / "r.json").read_text())
    assert len(data["images"]) == 8
    for img in data["images"]:
        assert {
            "file",
            "passed",
            "criteria",
            "grey_fraction",
            "offset",
            "cell_size",
            "cell_agreement",
            "ascii",
            "error",
        } <= set(img)
        assert set(img["criteria"]) == {"content", "black_background", "crisp", "grid_aligned"}
    best = [c for c in data["checkpoints"] if c["best"]]
    assert len(best) == 1 and best[0]["number"] == 500  # step 0 (the base model) is a baseline, never best
    assert best[0]["checkpoint_file"].endswith("flux_ascii_structure_v1-step00000500.safetensors")
    assert "best checkpoint: step 500" in out
    assert (run / "check" / "report.md").read_text().count("| step ") == 4
    assert Image.open(run / "check" / "scores.png").size[0] > 100
    assert len(list((tmp_path / "ov").glob("*.overlay.png"))) == 8
    ascii_files = sorted((tmp_path / "asc").glob("*.ascii"))
    assert len(ascii_files) == 8 and ascii_files[0].read_text() == picture("dungeon", 0)[1]


def test_cli_exit_codes(tmp_path, capsys):
    d = tmp_path / "ok"
    d.mkdir()
    Image.fromarray(picture("cave")[0]).save(d / "a.png")
    assert main(["check", str(d)]) == 0
    Image.fromarray(np.maximum(picture("cave")[0], 50)).save(d / "b.png")
    assert main(["check", str(d)]) == 1
    (d / "c.png").write_bytes(b"")
    assert main(["check", str(d)]) == 2  # unreadable input, the others still checked
    out, err = capsys.readouterr()
    assert "3 images: 1 passed, 1 failed, 1 unreadable" in out and "c.png" in err and "Traceback" not in err
    assert main(["check", str(tmp_path / "nowhere")]) == 2


def test_unreadable_folder_is_reported_and_the_rest_checked(tmp_path, capsys, monkeypatch):
    good = tmp_path / "good"
    good.mkdir()
    Image.fromarray(picture("maze")[0]).save(good / "a.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_iterdir = Path.iterdir

    def iterdir(self):
        if self == locked:
            raise PermissionError(13, "Permission denied")
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    assert main(["check", str(locked), str(good)]) == 2
    out, err = capsys.readouterr()
    assert "folder cannot be read" in err and "2 images: 1 passed" in out


def test_snap_repairs_a_shifted_near_miss(tmp_path, capsys):
    g, truth = picture("dungeon", 4)
    shifted = np.zeros_like(g)
    shifted[5:, 3:] = g[:-5, :-3]
    noisy = np.clip(shifted.astype(int) + np.random.default_rng(1).integers(-5, 6, g.shape), 0, 255).astype(
        np.uint8
    )
    Image.fromarray(noisy).convert("RGB").save(tmp_path / "near.png")
    assert main(["snap", str(tmp_path / "near.png"), "--out", str(tmp_path / "fixed")]) == 0
    fixed = tmp_path / "fixed" / "near.png"
    report = check_file(fixed, CFG, ATLAS)[0]
    assert report.passed and report.purity == 1.0
    assert report.ascii == (tmp_path / "fixed" / "near.ascii").read_text()
    rows = truth.splitlines()
    assert report.ascii.splitlines()[:63] == [r[:63] + " " for r in rows[:63]]


def test_rank_ignores_unreadable_and_foreign_names():
    from ascii_lora.check.score import ImageReport

    reports = [
        ImageReport(file="x/holiday.png"),
        ImageReport(file="x/a_000100_00_20261125120000.png", error="bad"),
    ]
    assert rank(reports) == []


def test_make_check_before_any_sample_explains_where_samples_come_from(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert "no samples yet" in err and "make train" in err


@pytest.mark.parametrize("family", ["cave", "maze", "dungeon", "mixed"])
def test_mild_blur_keeps_the_true_offset(family):
    g, _ = picture(family)
    blurred = np.asarray(Image.fromarray(g).filter(ImageFilter.GaussianBlur(1)))
    shifted = np.zeros_like(blurred)
    shifted[5:, 3:] = blurred[:-5, :-3]
    assert check(blurred).offset == [0, 0]
    assert check(shifted).offset == [3, 5]


@pytest.mark.parametrize("cell", [8, 32])
def test_other_cell_sizes_are_checked_with_their_own_atlas(cell):
    atlas = get_atlas(cell)
    lay = FAMILIES["dungeon"](np.random.default_rng(2), DatasetConfig(resolution=64 * cell, cell_size=cell))
    gray = atlas.render_gray(lay.grid)
    report = check_gray("x", gray.astype(np.float32), CFG, atlas)[0]
    assert report.passed and report.ascii == lay.text()
    shifted = np.zeros_like(gray)
    shifted[3:, 5:] = gray[:-3, :-5]
    assert check_gray("x", shifted.astype(np.float32), CFG, atlas)[0].offset == [5, 3]
