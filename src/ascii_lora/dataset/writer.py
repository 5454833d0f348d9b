"""Write a dataset directory: resumable, atomic, byte-identical for any number of workers.

A manifest is written before the first image (status "incomplete") and again at the end
(status "complete"), so a directory always says which config it belongs to. Re-running the same
config skips every file whose bytes already match and rewrites nothing identical.

Only files the manifest's own config schedules are ever removed or replaced; anything else in the
folder is the user's and makes the run stop before it writes. One run at a time holds the folder
(a lock file naming its pid), and the worker processes die with the run that started them.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import re
import signal
import time
import zlib
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import PIL

from .. import __version__, interrupts
from ..config.models import DatasetConfig
from ..errors import UserError
from ..fsutil import (
    FolderLock,
    atomic_write,
    ensure_dir,
    is_our_temp,
    remove_stale_temps,
    sha256_bytes,
    sha256_file,
)
from ..grid.atlas import get_atlas
from .families import REVISION as STRUCTURE_REVISION
from .manifest import EXTENSIONS, MANIFEST, Manifest, read_manifest
from .png import FORMAT as PNG_FORMAT
from .sample import family_schedule, make_sample, sample_name
from .workers import run_chunks

LOCK = ".ascii-lora.lock"
# A several-machine launch's pre-flight marks the dataset folder it must share with the head
# (train/cluster_preflight.py); sd-scripts trains on images only, so the mark changes nothing.
CLUSTER_MARK = ".ascii-lora-cluster.json"
# sd-scripts caches latents and text-encoder outputs beside the images (cache_*_to_disk)
TRAINER_CACHE = re.compile(r"^([a-z_]+_\d{5,})_.*\.npz$")


def fingerprint(cfg: DatasetConfig) -> str:
    """Hash of everything that decides image content, generator version included."""
    payload = {
        "generator": __version__,
        "structure": STRUCTURE_REVISION,
        "png": PNG_FORMAT,
        "dataset": cfg.content_fingerprint(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class WriteResult:
    name: str
    family: str
    hashes: dict[str, str]
    bytes_written: int
    files_written: int


@dataclass
class DatasetSummary:
    out: Path
    count: int
    families: dict[str, int]
    written: int = 0
    skipped: int = 0
    removed: int = 0
    bytes_total: int = 0
    bytes_written: int = 0
    seconds: float = 0.0
    workers: int = 1
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        return self.count / self.seconds if self.seconds else float("inf")


@lru_cache(maxsize=4)
def _config(cfg_json: str) -> DatasetConfig:
    return DatasetConfig.model_validate_json(cfg_json)


_PARENT: int | None = None  # in a worker: the pid of the run that started it


def _worker_start(parent: int) -> None:
    """Workers die with their run: the kernel kills them when it dies (Linux), and they check before each image.

    Ctrl-C is the run's to handle (a terminal sends it to the whole process group); the run then
    terminates its workers itself.
    """
    global _PARENT
    _PARENT = parent
    _child_signals()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _child_signals() -> None:
    """Run in every child right after fork, before any of its Python code: a worker must never run the
    run's own signal handlers, which it inherits (see `interrupts`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


_AT_FORK: list[bool] = []


def _register_at_fork() -> None:
    if not _AT_FORK and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_child_signals)
        _AT_FORK.append(True)


def _write_chunk(chunk: list[tuple[Any, ...]]) -> list[WriteResult]:
    return [_write_one(*task) for task in chunk]


def _write_star(task: tuple[Any, ...]) -> WriteResult:
    return _write_one(*task)


def _write_one(
    cfg_json: str, out: str, family: str, index: int, cached: bool = False, present: bool = True
) -> WriteResult:
    """Generate image ``index`` and write each of its files unless identical bytes are there.

    Takes the config as JSON so process-pool workers receive a small picklable string.
    ``cached``/``present``: whether the directory held trainer caches / any file of this image
    when the run began (one scan up front, not a directory listing or three failed reads per image).
    """
    if _PARENT is not None and os.getppid() != _PARENT:
        os._exit(1)  # the run that wanted this image is gone: write nothing more into its folder
    cfg = _config(cfg_json)
    s = make_sample(cfg, family, index)
    hashes, written, nbytes = {}, 0, 0
    # the PNG last: Kohya trains every image it finds, and one without its caption would train uncaptioned
    for ext, data in ((".txt", s.caption.encode()), (".ascii", s.ascii.encode()), (".png", s.png)):
        name = s.name + ext
        path = Path(out, name)
        digest = sha256_bytes(data)
        hashes[name] = digest
        if not present or sha256_file(path) != digest:
            atomic_write(path, data)
            written += 1
            nbytes += len(data)
    if written and cached:
        drop_trainer_caches(Path(out), s.name)
    return WriteResult(s.name, family, hashes, nbytes, written)


def drop_trainer_caches(out: Path, stem: str) -> None:
    """sd-scripts trusts a cached latent/encoding by its file name; a redrawn image must not inherit one."""
    for p in out.glob(f"{stem}_*.npz"):
        if TRAINER_CACHE.match(p.name):
            p.unlink(missing_ok=True)


def _versions() -> dict[str, str]:
    # zlib: the PNG bytes come from the runtime zlib's deflate, so it is part of "byte-identical"
    return {
        "ascii_lora": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
    }


def _atlas_facts(cell: int) -> dict[str, Any]:
    dist, a, b = get_atlas(cell).min_hamming()
    return {"tiles": len(get_atlas(cell).chars), "cell": cell, "min_hamming": dist, "closest_pair": a + b}


def _manifest(cfg: DatasetConfig, status: str, families: dict[str, int], hashes: dict[str, str]) -> str:
    data = {
        "tool": "ascii-lora",
        "status": status,
        "fingerprint": fingerprint(cfg),
        "seed": cfg.seed,
        "count": cfg.count,
        "families": families,
        "versions": _versions(),
        "png": PNG_FORMAT,
        "atlas": _atlas_facts(cfg.cell_size),
        "config": cfg.model_dump(mode="json"),
        "files": dict(sorted(hashes.items())),
    }
    return json.dumps(data, indent=1) + "\n"


def foreign_entries(out: Path, owned: set[str]) -> list[str]:
    """Names in ``out`` this tool did not write: never removed, never replaced."""
    stems = {n.rsplit(".", 1)[0] for n in owned}
    foreign = []
    for p in sorted(out.iterdir()):
        name = p.name
        if name in (MANIFEST, LOCK) or (is_our_temp(p) and p.is_file()):
            continue
        if not p.exists() and not p.is_symlink():  # gone since the listing: a running writer's temp, renamed
            continue
        regular = p.is_file() and not p.is_symlink()
        cache = TRAINER_CACHE.match(name)
        if regular and (name in owned or name == CLUSTER_MARK or (cache and cache.group(1) in stems)):
            continue
        foreign.append(name)
    return foreign


def check_directory(out: Path, cfg: DatasetConfig, force: bool) -> Manifest | None:
    """Refuse a directory that holds another dataset or files we did not write; return its manifest."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a directory; choose another --out")
    if not out.exists():
        return None
    try:
        old = read_manifest(out)
        foreign = foreign_entries(out, old.names() if old else set())
    except PermissionError as e:
        raise UserError(f"{out}: cannot be read ({e.strerror})") from None
    if foreign:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        why = (
            "no manifest.json says they belong to an ascii-lora dataset"
            if old is None
            else "the dataset's manifest does not list them"
        )
        raise UserError(
            f"{out}: holds {len(foreign)} file(s) that are not part of an ascii-lora dataset ({shown}): {why}. They are never "
            "removed or replaced (and Kohya would train on them): move them away or choose an empty or new --out"
        )
    if old is not None and old.fingerprint != fingerprint(cfg) and not force:
        raise UserError(
            f"{out}: holds a dataset of another config (fingerprint {old.fingerprint}, "
            f"seed {old.seed}, now {fingerprint(cfg)}, seed {cfg.seed}); "
            "pass --force to replace it or choose another --out"
        )
    return old


def write_dataset(
    cfg: DatasetConfig,
    out: Path,
    workers: int = 1,
    force: bool = False,
    progress: Callable[[Iterable[WriteResult], int], Iterable[WriteResult]] | None = None,
) -> DatasetSummary:
    """Write (or complete) the dataset of ``cfg`` in ``out``."""
    start = time.perf_counter()
    out = Path(out)
    check_directory(out, cfg, force)  # before creating anything, not even the lock file
    ensure_dir(out)
    with FolderLock(out, LOCK, "ascii-lora dataset"):
        old = check_directory(out, cfg, force)  # again: the folder may have changed before we held it
        summary = _write_locked(cfg, out, old, workers, progress)
    summary.seconds = time.perf_counter() - start
    return summary


def _write_locked(
    cfg: DatasetConfig,
    out: Path,
    old: Manifest | None,
    workers: int,
    progress: Callable[[Iterable[WriteResult], int], Iterable[WriteResult]] | None,
) -> DatasetSummary:
    remove_stale_temps(out)
    schedule = family_schedule(cfg.mix.weights(), cfg.count)
    families = dict(Counter(schedule))
    summary = DatasetSummary(out, cfg.count, families, workers=workers)

    # files of this dataset that are already right can be trusted without regenerating them
    same = old is not None and old.fingerprint == fingerprint(cfg)
    known = old.files if old is not None and same else {}
    owned = old.names() if old is not None else set()  # the only names ever removed or replaced
    owned_stems = {n.rsplit(".", 1)[0] for n in owned}
    expected = {f"{sample_name(fam, i)}{ext}" for i, fam in enumerate(schedule) for ext in EXTENSIONS}
    stems = {n.rsplit(".", 1)[0] for n in expected}
    cached: set[str] = set()
    present: set[str] = set()
    for p in out.iterdir():
        cache = TRAINER_CACHE.match(p.name)
        if (p.name in owned and p.name not in expected) or (
            cache and cache.group(1) in owned_stems and cache.group(1) not in stems
        ):
            p.unlink()
            summary.removed += 1
        elif cache:
            cached.add(cache.group(1))
        elif p.name in expected:
            present.add(p.name.rsplit(".", 1)[0])

    atomic_write(out / MANIFEST, _manifest(cfg, "incomplete", families, {}))
    todo: list[tuple[str, int]] = []
    for i, fam in enumerate(schedule):
        names = [f"{sample_name(fam, i)}{ext}" for ext in EXTENSIONS]
        if all(n in known and sha256_file(out / n) == known[n] for n in names):
            summary.hashes.update({n: known[n] for n in names})
            summary.skipped += 1
        else:
            todo.append((fam, i))

    cfg_json = cfg.model_dump_json()
    tasks = [
        (cfg_json, str(out), f, i, sample_name(f, i) in cached, sample_name(f, i) in present) for f, i in todo
    ]
    chunked: Generator[list[WriteResult], None, None] | None = None
    if workers <= 1 or len(todo) < 2:
        results: Iterator[WriteResult] = map(_write_star, tasks)
    else:
        _register_at_fork()
        size = max(1, len(todo) // (workers * 8))
        chunked = run_chunks(
            _write_chunk,
            [tasks[k : k + size] for k in range(0, len(tasks), size)],
            workers,
            _worker_start,
            (os.getpid(),),
        )
        results = (r for chunk in chunked for r in chunk)
    try:
        for r in progress(results, len(todo)) if progress else results:
            interrupts.raise_if_pending()  # a stop swallowed between two images still stops the run
            summary.hashes.update(r.hashes)
            summary.bytes_written += r.bytes_written
            if r.files_written:
                summary.written += 1
            else:
                summary.skipped += 1
    finally:
        if chunked is not None:
            chunked.close()  # Ctrl-C, SIGTERM or an error: no worker outlives the run

    atomic_write(out / MANIFEST, _manifest(cfg, "complete", families, summary.hashes))
    summary.bytes_total = sum((out / n).stat().st_size for n in summary.hashes)
    return summary


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


MAX_OVERSUBSCRIBED = 64


def worker_count(asked: int | None, oversubscribe: bool) -> tuple[int, str | None]:
    """How many workers a run gets for ``--workers asked``, and the note to show when it was capped:
    more processes than cores only adds memory and switching, unless the user insists."""
    cores = default_workers()
    workers = asked or cores
    if oversubscribe and workers > MAX_OVERSUBSCRIBED:
        raise UserError(f"--workers {workers}: at most {MAX_OVERSUBSCRIBED} with --oversubscribe")
    if workers > cores and not oversubscribe:
        return (
            cores,
            f"--workers {workers} capped at the {cores} core(s) this process may use (--oversubscribe to insist)",
        )
    return workers, None
