"""The dataset writer's bookkeeping (dataset/writer.py), measured on disk: what the manifest and the
summary claim is recounted from the files, what is refused is refused by name, what belongs to the
trainer or the user is left alone."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import platform
import zlib
from pathlib import Path

import numpy as np
import PIL
import pytest

from ascii_lora import __version__
from ascii_lora.config.models import DatasetConfig
from ascii_lora.dataset import writer
from ascii_lora.dataset.writer import DatasetSummary, default_workers, fingerprint, write_dataset
from ascii_lora.errors import UserError

COUNT = 6


def small(**kw) -> DatasetConfig:
    return DatasetConfig(count=kw.pop("count", COUNT), seed=kw.pop("seed", 5), **kw)


def data_files(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.suffix in (".png", ".txt", ".ascii"))


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


# -- the fingerprint ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [
        ("__version__", "9.9.9"),
        ("STRUCTURE_REVISION", "another"),
        ("PNG_FORMAT", {"mode": "L", "bit_depth": 8}),
    ],
)
def test_fingerprint_changes_with_the_generator_the_structures_and_the_png_format(monkeypatch, name, value):
    """A new generator version, family revision or PNG format draws other bytes: an old dataset
    must not be taken for the new one."""
    before = fingerprint(small())
    monkeypatch.setattr(writer, name, value)
    assert fingerprint(small()) != before


def test_fingerprint_is_sixteen_hex_digits():
    fp = fingerprint(small())
    assert len(fp) == 16 and int(fp, 16) >= 0


# -- the manifest and the summary ----------------------------------------------------------------------


def test_manifest_states_tool_status_fingerprint_format_versions_config_and_sorted_files(tmp_path):
    out = tmp_path / "d"
    write_dataset(small(), out)
    m = manifest(out)
    assert (
        m["tool"] == "ascii-lora" and m["status"] == "complete" and m["fingerprint"] == fingerprint(small())
    )
    assert m["png"]["mode"] == "1" and m["png"]["bit_depth"] == 1
    assert m["versions"] == {
        "ascii_lora": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
    }
    assert m["config"] == json.loads(small().model_dump_json())
    assert list(m["files"]) == sorted(m["files"]) == [p.name for p in data_files(out)]
    # one key per line, one space per level: readable, and diffable between two datasets
    assert (
        (out / "manifest.json").read_text().startswith('{\n "tool": "ascii-lora",\n "status": "complete",\n')
    )
    assert (out / "manifest.json").read_text().endswith("\n}\n")


def test_atlas_facts_follow_the_cell_size(tmp_path):
    out = tmp_path / "d"
    write_dataset(small(count=2, resolution=512, cell_size=8), out)
    atlas = manifest(out)["atlas"]
    assert atlas["cell"] == 8 and atlas["tiles"] == 95
    # the closest pair of tiles and how many pixels tell them apart, recounted here
    from ascii_lora.grid.atlas import get_atlas

    tiles = dict(zip(get_atlas(8).chars, get_atlas(8).tiles, strict=False))
    a, b = atlas["closest_pair"]
    assert int((tiles[a] != tiles[b]).sum()) == atlas["min_hamming"] > 0


def test_manifest_families_count_the_images_on_disk(tmp_path):
    from collections import Counter

    out = tmp_path / "d"
    write_dataset(small(count=9), out)
    on_disk = Counter(p.stem.rsplit("_", 1)[0] for p in out.glob("*.png"))
    assert manifest(out)["families"] == dict(on_disk) and sum(on_disk.values()) == 9


def test_while_images_are_written_the_manifest_says_incomplete_and_lists_nothing(tmp_path):
    out = tmp_path / "d"
    seen = []

    def progress(results, total):
        m = manifest(out)
        seen.append((total, m["status"], m["files"], sum(m["families"].values())))
        yield from results

    write_dataset(small(), out, progress=progress)
    assert seen == [(COUNT, "incomplete", {}, COUNT)]  # which dataset it is, from the first image on
    assert manifest(out)["status"] == "complete"


def test_summary_counts_are_what_lies_on_disk(tmp_path):
    out = tmp_path / "d"
    first = write_dataset(small(), out, workers=1)
    sizes = {p.name: p.stat().st_size for p in data_files(out)}
    assert (first.count, first.written, first.skipped, first.removed) == (COUNT, COUNT, 0, 0)
    assert first.bytes_total == first.bytes_written == sum(sizes.values())
    assert first.hashes == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in data_files(out)}
    assert (
        sum(first.families.values()) == COUNT
        and first.workers == 1
        and first.seconds > 0
        and first.out == out
    )

    victim = data_files(out)[0]
    victim.write_bytes(b"damaged")
    again = write_dataset(small(), out, workers=3)
    assert (again.written, again.skipped, again.workers) == (1, COUNT - 1, 3)
    assert again.bytes_written == sizes[victim.name]  # only the repaired file was written
    assert again.bytes_total == sum(sizes.values())


def test_a_damaged_file_rewrites_only_that_file(tmp_path):
    out = tmp_path / "d"
    write_dataset(small(), out)
    png = sorted(out.glob("*.png"))[2]
    stamps = {p.name: p.stat().st_mtime_ns for p in data_files(out)}
    good = {p.name: p.read_bytes() for p in data_files(out)}
    png.with_suffix(".txt").write_text("not the caption")
    write_dataset(small(), out)
    changed = {p.name for p in data_files(out) if p.stat().st_mtime_ns != stamps[p.name]}
    assert changed == {png.with_suffix(".txt").name}
    for ext in (".png", ".txt", ".ascii"):  # every file of one image damaged
        png.with_suffix(ext).write_bytes(b"damaged")
    assert write_dataset(small(), out).written == 1
    assert {p.name: p.read_bytes() for p in data_files(out)} == good


def test_a_missing_manifest_entry_is_regenerated_with_the_same_bytes(tmp_path):
    """Files the manifest does not vouch for are regenerated: identical ones are left untouched,
    missing ones come back byte for byte."""
    out = tmp_path / "d"
    write_dataset(small(), out)
    before = {p.name: p.read_bytes() for p in data_files(out)}
    m = manifest(out)
    m["files"] = {}
    (out / "manifest.json").write_text(json.dumps(m))
    gone = sorted(out.glob("*.ascii"))[1]
    gone.unlink()
    summary = write_dataset(small(), out)
    assert summary.written == 1 and summary.skipped == COUNT - 1
    assert {p.name: p.read_bytes() for p in data_files(out)} == before


def test_images_per_second():
    assert DatasetSummary(Path("x"), 10, {}, seconds=4.0).images_per_second == 2.5
    assert DatasetSummary(Path("x"), 10, {}).images_per_second == float("inf")


def test_default_workers_are_the_cores_this_process_may_use():
    assert default_workers() == len(os.sched_getaffinity(0))
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
        assert default_workers() == 1  # one core allowed, however many the machine has
    finally:
        os.sched_setaffinity(0, cores)


def test_without_affinity_the_cpu_count_decides_and_at_least_one_worker(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert default_workers() == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown
    assert default_workers() == 1


# -- what is not ours ------------------------------------------------------------------------------------


def test_the_lock_file_and_temp_files_are_not_foreign_but_a_symlink_or_a_folder_is(tmp_path):
    out = tmp_path / "d"
    write_dataset(small(), out)
    (out / ".ascii-lora.lock").write_text("ascii-lora dataset (pid 123)\n")  # what a killed run leaves
    (out / ".ascii-lora-tmp-xyz_1234").write_bytes(b"half")  # named as mkstemp names ours
    write_dataset(small(), out)  # neither is foreign
    assert not (out / ".ascii-lora-tmp-xyz_1234").exists()  # a stale temp file is cleared
    png = sorted(out.glob("*.png"))[0]
    (tmp_path / "elsewhere.png").write_bytes(png.read_bytes())
    png.unlink()
    png.symlink_to(tmp_path / "elsewhere.png")  # same bytes, but a link may point anywhere
    with pytest.raises(
        UserError, match=rf"1 file\(s\).*\({png.name}\): the dataset's manifest does not list them"
    ):
        write_dataset(small(), out)
    png.unlink()
    png.mkdir()
    with pytest.raises(UserError, match=rf"\({png.name}\)"):
        write_dataset(small(), out)


def test_the_mark_a_several_machine_preflight_leaves_is_not_foreign_but_a_link_named_so_is(tmp_path):
    """A 2-machine rehearsal left .ascii-lora-cluster.json in the dataset, and the next `dataset` refused it."""
    out = tmp_path / "d"
    write_dataset(small(), out)
    (out / ".ascii-lora-cluster.json").write_text('{"ranks": {"1": "t"}}\n')
    write_dataset(small(), out)  # not foreign, and left as it was
    assert (out / ".ascii-lora-cluster.json").read_text() == '{"ranks": {"1": "t"}}\n'
    (out / ".ascii-lora-cluster.json").unlink()
    (out / ".ascii-lora-cluster.json").symlink_to(tmp_path / "anywhere")
    with pytest.raises(UserError, match=r"\(\.ascii-lora-cluster\.json\)"):
        write_dataset(small(), out)


def test_a_temp_file_renamed_away_while_the_folder_is_listed_is_not_foreign(tmp_path, monkeypatch):
    """A second run lists the folder while the first renames its temp files into place: what is gone by the
    time it looks is nobody's file (the second run must then name the lock's holder, not a foreign file)."""
    from ascii_lora.dataset.writer import foreign_entries

    out = tmp_path / "d"
    write_dataset(small(), out)
    listed = [
        *out.iterdir(),
        out / ".ascii-lora-tmp-gone1234",
    ]  # listed, then renamed before it was looked at
    monkeypatch.setattr(Path, "iterdir", lambda self: iter(listed) if self == out else iter(()))
    owned = {p.name for p in out.iterdir() if p.suffix in (".png", ".txt", ".ascii")}
    assert foreign_entries(out, owned) == []


def test_foreign_files_are_counted_and_the_first_three_named(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        (out / name).write_bytes(b"x")
    with pytest.raises(UserError) as e:
        write_dataset(small(), out)
    assert (
        f"{out}: holds 4 file(s) that are not part of an ascii-lora dataset (a.jpg, b.jpg, c.jpg ...): "
        "no manifest.json says they belong to an ascii-lora dataset" in str(e.value)
    )
    (out / "d.jpg").unlink()
    with pytest.raises(UserError) as e:
        write_dataset(small(), out)
    assert "(a.jpg, b.jpg, c.jpg): no manifest" in str(e.value)
    assert sorted(p.name for p in out.iterdir()) == [
        "a.jpg",
        "b.jpg",
        "c.jpg",
    ]  # nothing written, not even a lock


def test_a_trainer_cache_of_an_image_this_dataset_never_had_is_foreign(tmp_path):
    out = tmp_path / "d"
    write_dataset(small(), out)
    (out / "dungeon_99999_1024x1024_flux.npz").write_bytes(b"latents")
    with pytest.raises(UserError, match="dungeon_99999_1024x1024_flux.npz"):
        write_dataset(small(), out)


def test_an_unreadable_folder_is_one_clear_error(tmp_path, monkeypatch):
    out = tmp_path / "d"
    write_dataset(small(), out)
    real = Path.iterdir

    def iterdir(self):
        if self == out:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    with pytest.raises(UserError, match=r"cannot be read \(Permission denied\)"):
        write_dataset(small(), out)


def test_the_other_config_message_names_both_fingerprints_and_seeds(tmp_path):
    out = tmp_path / "d"
    write_dataset(small(), out)
    with pytest.raises(UserError) as e:
        write_dataset(small(seed=9), out)
    assert (
        f"holds a dataset of another config (fingerprint {fingerprint(small())}, seed 5, "
        f"now {fingerprint(small(seed=9))}, seed 9)"
    ) in str(e.value)


# -- trainer caches -------------------------------------------------------------------------------------


def test_caches_of_images_past_a_smaller_count_go_with_their_images(tmp_path):
    out = tmp_path / "d"
    write_dataset(small(), out)
    stems = [p.stem for p in sorted(out.glob("*.png"), key=lambda p: p.stem[-5:])]
    for stem in stems:
        (out / f"{stem}_1024x1024_flux.npz").write_bytes(b"latents")
    summary = write_dataset(small(count=4), out)
    kept = sorted(p.name for p in out.glob("*.npz"))
    assert kept == sorted(f"{s}_1024x1024_flux.npz" for s in stems[:4])
    assert summary.removed == 3 * 2 + 2  # two images' three files and their caches


def test_an_unchanged_image_keeps_its_caches_and_a_regenerated_one_loses_only_its_own(tmp_path):
    out = tmp_path / "d"
    write_dataset(small(), out)
    stems = [p.stem for p in sorted(out.glob("*.png"))]
    for stem in stems:
        (out / f"{stem}_1024x1024_flux.npz").write_bytes(b"latents")
        (out / f"{stem}_notes.npz").write_bytes(b"ours?")  # trainer-cache shaped: the trainer's too
    m = manifest(out)
    m["files"] = {}
    (out / "manifest.json").write_text(json.dumps(m))  # nothing vouched for: every image is reread
    write_dataset(small(), out)
    assert len(list(out.glob("*.npz"))) == 2 * COUNT  # identical bytes: nothing rewritten, caches kept
    (out / f"{stems[1]}.ascii").write_text("changed")
    write_dataset(small(), out)
    assert sorted(p.name for p in out.glob(f"{stems[1]}_*.npz")) == []
    assert len(list(out.glob("*.npz"))) == 2 * (COUNT - 1)


def test_drop_trainer_caches_leaves_other_images_and_non_cache_names():
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        out = Path(d)
        for name in (
            "maze_00001_1024x1024_flux.npz",
            "maze_00001_te.npz",
            "maze_000012_te.npz",
            "maze_00001_notes.txt",
            "maze_00002_te.npz",
        ):
            (out / name).write_bytes(b"x")
        writer.drop_trainer_caches(out, "maze_00001")
        assert sorted(p.name for p in out.iterdir()) == [
            "maze_000012_te.npz",
            "maze_00001_notes.txt",
            "maze_00002_te.npz",
        ]


# -- workers and their run --------------------------------------------------------------------------------


def _in_fork(target) -> int:
    p = multiprocessing.get_context("fork").Process(target=target)
    p.start()
    p.join(20)
    return p.exitcode


def test_a_worker_whose_run_is_gone_writes_nothing(tmp_path):
    out = tmp_path / "d"
    out.mkdir()

    def orphan():
        writer._PARENT = os.getppid() + 1_000_000  # not the pid that started it
        writer._write_one(small().model_dump_json(), str(out), "dungeon", 0)
        os._exit(0)

    assert _in_fork(orphan) == 1
    assert list(out.iterdir()) == []


def test_a_worker_started_by_a_run_that_already_died_exits_at_once():
    def late():
        writer._worker_start(os.getppid() + 1_000_000)
        os._exit(0)

    assert _in_fork(late) == 1


def test_a_worker_of_a_living_run_ignores_ctrl_c_takes_sigterm_by_default_and_dies_with_its_run():
    import ctypes
    import signal

    def worker():
        writer._worker_start(os.getppid())
        death = ctypes.c_int(0)
        ctypes.CDLL(None, use_errno=True).prctl(
            2, ctypes.byref(death)
        )  # PR_GET_PDEATHSIG, asked of the kernel
        ok = (
            writer._PARENT == os.getppid()
            and signal.getsignal(signal.SIGINT) == signal.SIG_IGN
            and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
            and death.value == signal.SIGKILL
        )
        os._exit(0 if ok else 3)

    assert _in_fork(worker) == 0


@pytest.fixture
def worker_state_undone():
    """What a worker's start-up changes in this process (death signal, signal handlers, _PARENT), put back
    afterwards; yields the libc whose prctl reads the death signal."""
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    before = ctypes.c_int(0)
    libc.prctl(2, ctypes.byref(before))
    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), writer._PARENT
    try:
        yield libc
    finally:
        libc.prctl(1, before.value)
        signal.signal(signal.SIGINT, saved[0])
        signal.signal(signal.SIGTERM, saved[1])
        writer._PARENT = saved[2]


def test_worker_start_in_this_process_sets_what_a_worker_needs(worker_state_undone):
    """The same start-up, run here (and undone) so that it is measured in-process too."""
    import ctypes
    import signal

    writer._worker_start(os.getppid())
    after = ctypes.c_int(0)
    worker_state_undone.prctl(2, ctypes.byref(after))
    assert writer._PARENT == os.getppid() and after.value == signal.SIGKILL
    assert (
        signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    )


class _Exit(Exception):
    pass


def test_in_this_process_a_worker_or_task_whose_run_is_gone_exits_with_status_1(
    tmp_path, monkeypatch, worker_state_undone
):
    """The same two checks as in the forked tests above, with os._exit caught, so that they are
    measured in-process too."""

    def fake_exit(code):
        raise _Exit(code)

    monkeypatch.setattr(os, "_exit", fake_exit)
    with pytest.raises(_Exit) as e:
        writer._worker_start(os.getppid() + 1_000_000)
    assert e.value.args == (1,)
    writer._PARENT = os.getppid() + 1_000_000
    with pytest.raises(_Exit) as e:
        writer._write_one(small().model_dump_json(), str(tmp_path), "dungeon", 0)
    assert e.value.args == (1,) and list(tmp_path.iterdir()) == []


def test_after_a_pool_has_run_every_forked_child_ignores_ctrl_c_from_its_first_instruction(tmp_path):
    """Once the dataset has forked workers, the at-fork hook resets the signals of every later child
    before any of its Python code runs, the worker's own start-up included."""
    import signal

    write_dataset(small(count=4), tmp_path / "d", workers=2)

    def child():
        os._exit(0 if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else 3)

    saved = signal.signal(signal.SIGINT, signal.default_int_handler)  # whatever ran this test set
    try:
        assert _in_fork(child) == 0
    finally:
        signal.signal(signal.SIGINT, saved)


def test_several_workers_write_what_one_writes(tmp_path):
    one, two, three = tmp_path / "one", tmp_path / "two", tmp_path / "three"
    write_dataset(small(count=32), one, workers=1)
    running = []

    def progress(results, total):
        for i, r in enumerate(results):
            if i == 0:  # the workers start with the first wait for a result
                running.append(len(multiprocessing.active_children()))
            yield r

    summary = write_dataset(small(count=9), three, workers=3, progress=progress)
    assert summary.written == 9 and running == [3]  # exactly the workers asked for
    # 32 images over 2 workers: handed out several to a task, each image exactly once
    summary = write_dataset(small(count=32), two, workers=2, progress=progress)
    assert (summary.written, summary.skipped) == (32, 0) and running == [3, 2]
    assert {p.name: p.read_bytes() for p in data_files(one)} == {
        p.name: p.read_bytes() for p in data_files(two)
    }
    assert {p.name: p.read_bytes() for p in data_files(three)} == {
        k: v
        for k, v in {p.name: p.read_bytes() for p in data_files(one)}.items()
        if int(k.split("_")[-1].split(".")[0]) < 9
    }
    write_dataset(small(count=4), tmp_path / "fresh", workers=1, progress=progress)
    sorted(three.glob("*.png"))[0].write_bytes(b"damaged")
    write_dataset(small(count=9), three, workers=3, progress=progress)
    sorted(three.glob("*.png"))[1].write_bytes(b"damaged")
    sorted(three.glob("*.png"))[2].write_bytes(b"damaged")
    write_dataset(small(count=9), three, workers=3, progress=progress)
    # one worker, or one image to draw: drawn in this process; two images: two workers, never an idle third
    assert running == [3, 2, 0, 0, 2]


def test_forcing_another_config_redraws_every_image(tmp_path):
    out, fresh = tmp_path / "d", tmp_path / "fresh"
    write_dataset(small(), out)
    summary = write_dataset(small(seed=9), out, force=True)
    write_dataset(small(seed=9), fresh)
    assert summary.written == COUNT
    assert {p.name: p.read_bytes() for p in data_files(out)} == {
        p.name: p.read_bytes() for p in data_files(fresh)
    }


def test_a_run_that_fails_midway_stops_its_workers_and_stays_incomplete(tmp_path):
    out = tmp_path / "d"

    def progress(results, total):
        for k, r in enumerate(results):
            if k == 2:
                raise KeyboardInterrupt
            yield r

    with pytest.raises(KeyboardInterrupt):
        write_dataset(small(count=12), out, workers=2, progress=progress)
    assert multiprocessing.active_children() == []
    assert manifest(out)["status"] == "incomplete"
    write_dataset(small(count=12), out)  # the folder is not left locked: a rerun completes it
    assert manifest(out)["status"] == "complete" and len(data_files(out)) == 36


def test_one_image_task_by_default_compares_before_writing_and_leaves_caches_alone(tmp_path):
    """A task told nothing assumes the image's files may be there (compare, write only what
    differs) and that no trainer cache was (keep any it finds: the run's scan decides)."""
    out = tmp_path / "d"
    write_dataset(small(count=1), out)
    stem = sorted(out.glob("*.png"))[0].stem
    (out / f"{stem}_1024x1024_flux.npz").write_bytes(b"latents")
    family = stem.rsplit("_", 1)[0]
    again = writer._write_one(small(count=1).model_dump_json(), str(out), family, 0)
    assert (again.name, again.family, again.files_written, again.bytes_written) == (stem, family, 0, 0)
    fresh = writer._write_one(small(count=1).model_dump_json(), str(tmp_path), family, 0)
    assert fresh.files_written == 3 and fresh.bytes_written == sum(
        p.stat().st_size for p in data_files(tmp_path)
    )
    (out / f"{stem}.txt").write_text("damaged")
    repaired = writer._write_one(small(count=1).model_dump_json(), str(out), family, 0)
    assert repaired.files_written == 1 and (out / f"{stem}_1024x1024_flux.npz").exists()
