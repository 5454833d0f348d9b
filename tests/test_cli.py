"""The CLI is thin: user mistakes are one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ascii_lora.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "exp.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "toml,expected",
    [
        ("[dataset]\ncuont = 5\n", "[dataset] cuont: unknown key"),
        ("[dataset]\ncount = -3\n", "[dataset] count: Input should be greater than or equal to 1 (got -3)"),
        ("[dataset]\ncount = 'many'\n", "[dataset] count"),
        ("[dataset]\nresolution = 1000\n", "resolution 1000 is not a multiple of cell_size 16"),
        ("[dataset]\ncell_size = 12\n", "cell_size must be 8, 16 or 32"),
        (
            "[dataset.mix]\ndungeon = 0\nrooms_and_mazes = 0\ncave = 0\nmaze = 0\ncorridor = 0\ntext = 0\nmixed = 0\n",
            "at least one family",
        ),
        ("[dataset.mix]\ndragons = 1\n", "[dataset.mix] dragons: unknown key"),
        ("[dataset.maze]\nalgorithms = ['kruskal']\n", "unknown maze algorithm"),
        ("[dataset.corridor]\nwidth = [3, 1]\n", "min <= max"),
        ("[datset]\n", "datset: unknown key"),
        ("[dataset\n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(tmp_path, capsys, toml, expected):
    cfg = write(tmp_path, toml)
    code, out, err = run(capsys, "dataset", "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert code == 2
    assert "Traceback" not in err
    line = " ".join(err.split())
    assert str(cfg) in line and expected in line
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_missing_config_file(tmp_path, capsys):
    code, _, err = run(capsys, "dataset", "--config", str(tmp_path / "nope.toml"))
    assert code == 2 and "config file not found" in err


@pytest.mark.parametrize("flag,value", [("--count", "0"), ("--workers", "-1"), ("--seed", "x")])
def test_bad_flag_values_are_usage_errors(capsys, flag, value):
    with pytest.raises(SystemExit) as e:
        main(["dataset", flag, value])
    assert e.value.code == 2
    assert flag in capsys.readouterr().err


def test_dataset_validate_preview_round_trip(tmp_path, capsys):
    out = tmp_path / "data"
    code, stdout, _ = run(
        capsys,
        "dataset",
        "--config",
        str(ROOT / "configs" / "flux_ascii.toml"),
        "--out",
        str(out),
        "--count",
        "9",
        "--workers",
        "2",
    )
    assert code == 0
    assert "9 images" in stdout and "images/s" in stdout
    assert len(list(out.glob("*.png"))) == 9
    assert json.loads((out / "manifest.json").read_text())["count"] == 9

    code, stdout, _ = run(capsys, "validate", str(out))
    assert code == 0 and "9 images checked" in stdout

    sheet = tmp_path / "sheet.png"
    code, _, _ = run(capsys, "preview", str(out), "--out", str(sheet), "--count", "7")
    assert code == 0 and sheet.stat().st_size > 0

    (out / "dungeon_00000.txt").write_text("wrong\n")
    code, _, err = run(capsys, "validate", str(out))
    assert code == 1 and "dungeon_00000.png: caption does not start with the trigger word" in err


def test_another_config_in_the_same_directory_is_refused(tmp_path, capsys):
    out = str(tmp_path / "data")
    assert run(capsys, "dataset", "--out", out, "--count", "3", "--workers", "1")[0] == 0
    code, _, err = run(capsys, "dataset", "--out", out, "--count", "3", "--seed", "1", "--workers", "1")
    assert code == 2 and "another config" in err and "--force" in err
    assert (
        run(capsys, "dataset", "--out", out, "--count", "3", "--seed", "1", "--force", "--workers", "1")[0]
        == 0
    )


def test_validate_of_a_missing_directory(tmp_path, capsys):
    code, _, err = run(capsys, "validate", str(tmp_path / "nothing"))
    assert code == 2 and "not a directory" in err


def test_console_script_entry_point_runs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "ascii_lora", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("ascii-lora ")


def test_workers_above_the_core_count_are_capped_unless_the_user_insists(tmp_path, capsys, monkeypatch):
    import os

    monkeypatch.chdir(tmp_path)
    cores = len(os.sched_getaffinity(0))
    assert main(["dataset", "--out", "a", "--count", "3", "--workers", str(cores + 1)]) == 0
    out = capsys.readouterr().out
    assert f"capped at the {cores} core(s)" in out and f"on {cores} worker(s)" in out
    assert (
        main(["dataset", "--out", "b", "--count", "3", "--workers", str(cores + 1), "--oversubscribe"]) == 0
    )
    assert f"on {cores + 1} worker(s)" in capsys.readouterr().out
    assert main(["dataset", "--out", "c", "--count", "3", "--workers", "65", "--oversubscribe"]) == 2
    assert "at most 64 with --oversubscribe" in capsys.readouterr().err
