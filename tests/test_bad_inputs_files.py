"""Hostile inputs below the CLI: the files the trainer would read, lock and temp files that are not ours.

The CLI-level cases live in the table of test_bad_inputs.py; these pin the pieces the table cannot
see from outside (which names the trainer's image list takes, what a lock leaves behind).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

from ascii_lora.dataset.validate import trainer_images
from ascii_lora.errors import UserError
from ascii_lora.fsutil import FolderLock, remove_stale_temps
from ascii_lora.verify.drawing import clear_stale

from .kohya_facts import KohyaFacts

LOCK = ".ascii-lora.lock"


def sd_scripts_glob_images(directory: Path) -> list[str]:
    """sd-scripts' glob_images(directory, "*") at the pin, replayed with its own extension list."""
    found = set()
    for ext in KohyaFacts().image_extensions:
        found.update(glob.glob(os.path.join(glob.escape(str(directory)), "*" + ext)))
    return sorted(Path(p).name for p in found)


def test_validate_looks_at_exactly_the_files_the_trainer_trains_on(tmp_path):
    names = [
        "a.png",
        "b.PNG",
        "c.Png",
        "d.jpg",
        "e.JPEG",
        "f.webp",
        "g.bmp",
        "h.avif",
        "i.JXL",
        ".hidden.png",
        "j.png.txt",
        "k.gif",
        "l.tiff",
        "m.txt",
        "n.ascii",
        "o.jpeg",
        "p.WebP",
        "q.x.webp",
    ]
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    (
        tmp_path / "dir.png"
    ).mkdir()  # glob lists folders too: the trainer would fail on it, so validate must see it
    assert [p.name for p in trainer_images(tmp_path)] == sd_scripts_glob_images(tmp_path)


# -- the lock file --------------------------------------------------------------------------------------------


def test_lock_never_follows_a_symlink(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("my thesis\n")
    (tmp_path / LOCK).symlink_to(precious)
    with pytest.raises(UserError, match="symbolic link"):
        with FolderLock(tmp_path, LOCK, "test"):
            pass
    assert precious.read_text() == "my thesis\n" and (tmp_path / LOCK).is_symlink()


def test_a_users_file_named_like_the_lock_is_neither_truncated_nor_deleted(tmp_path):
    (tmp_path / LOCK).write_text("notes I keep here\n")
    with pytest.raises(UserError, match="not an ascii-lora lock file"):
        with FolderLock(tmp_path, LOCK, "test"):
            pass
    assert (tmp_path / LOCK).read_text() == "notes I keep here\n"


def test_an_empty_file_of_unknown_origin_is_used_but_not_deleted(tmp_path):
    (tmp_path / LOCK).write_bytes(b"")
    with FolderLock(tmp_path, LOCK, "test"):
        pass
    assert (tmp_path / LOCK).exists()


def test_a_lock_a_killed_run_left_is_reused_and_removed(tmp_path):
    (tmp_path / LOCK).write_text("ascii-lora dataset (pid 4242)\n")
    with FolderLock(tmp_path, LOCK, "test"):
        assert (tmp_path / LOCK).read_text() == f"test (pid {os.getpid()})\n"
    assert not (tmp_path / LOCK).exists()


def test_a_lock_we_created_is_removed_but_a_file_put_in_its_place_stays(tmp_path):
    with FolderLock(tmp_path, LOCK, "test"):
        pass
    assert not (tmp_path / LOCK).exists()
    with FolderLock(tmp_path, LOCK, "test"):
        (tmp_path / LOCK).unlink()
        (tmp_path / LOCK).write_text("a user's file, written while we held the lock\n")
    assert (tmp_path / LOCK).read_text() == "a user's file, written while we held the lock\n"


# -- temp files ------------------------------------------------------------------------------------------------


def test_only_our_own_temp_files_are_removed(tmp_path):
    ours = tmp_path / ".ascii-lora-tmp-k3_x9qa0"  # mkstemp's 8 characters after the prefix
    mine = tmp_path / ".ascii-lora-tmp-my-notes.txt"
    ours.write_bytes(b"half a png")
    mine.write_text("keep me\n")
    link_target = tmp_path / "target.txt"
    link_target.write_text("keep me too\n")
    (tmp_path / ".ascii-lora-tmp-abcdefgh").symlink_to(link_target)
    assert remove_stale_temps(tmp_path) == 1
    assert not ours.exists() and mine.read_text() == "keep me\n"
    assert (tmp_path / ".ascii-lora-tmp-abcdefgh").is_symlink() and link_target.exists()


def test_verify_clears_its_temp_folders_but_not_a_users_folder(tmp_path):
    (tmp_path / ".ascii-lora-tmp-ab12cd34").mkdir()
    (tmp_path / ".ascii-lora-tmp-ab12cd34" / "half.png").write_bytes(b"x")
    (tmp_path / ".ascii-lora-tmp-my-drafts").mkdir()
    (tmp_path / ".ascii-lora-tmp-my-drafts" / "idea.png").write_bytes(b"x")
    clear_stale([tmp_path])
    assert not (tmp_path / ".ascii-lora-tmp-ab12cd34").exists()
    assert (tmp_path / ".ascii-lora-tmp-my-drafts" / "idea.png").exists()


# -- a run folder and the dataset folder never overlap ---------------------------------------------------------


@pytest.mark.parametrize(
    "run, view, says",
    [
        ("data", None, "is the dataset folder"),
        ("data/run", None, "is inside the dataset folder"),
        (
            "run",
            "run/dataset",
            "link folder",
        ),  # [dataset] out = run/dataset: SimpleTuner's links would replace it
        ("elsewhere", "data/x", "link folder"),
        ("elsewhere", ".", "link folder"),  # a link folder above the dataset
    ],
)
def test_a_run_folder_overlapping_the_dataset_is_refused(tmp_path, run, view, says):
    from ascii_lora.train.runs import refuse_run_in_dataset

    data = tmp_path / ("run/dataset" if view == "run/dataset" else "data")
    with pytest.raises(UserError, match=says):
        refuse_run_in_dataset(tmp_path / run, data, tmp_path / view if view else None)


def test_a_run_folder_beside_the_dataset_is_fine(tmp_path):
    from ascii_lora.train.runs import refuse_run_in_dataset

    refuse_run_in_dataset(tmp_path / "run", tmp_path / "data", tmp_path / "run" / "dataset")
    refuse_run_in_dataset(tmp_path / "data-run", tmp_path / "data")  # a shared prefix is no parent
