"""Write a dataset directory: resumable, atomic, byte-identical for any number of workers.

A manifest is written before the first image (status "incomplete") and again at the end
(status "complete"), so a directory always says which config it belongs to. Re-running the same
config skips every file whose bytes already match and rewrites nothing identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import PIL

from .. import __version__
from ..grid.atlas import get_atlas
from ..config.models import DatasetConfig
from ..errors import UserError
from ..fsutil import atomic_write, remove_stale_temps, sha256_bytes, sha256_file
from .families import REVISION as STRUCTURE_REVISION
from .png import FORMAT as PNG_FORMAT
from .sample import family_schedule, make_sample, sample_name

MANIFEST = "manifest.json"
EXTENSIONS = (".png", ".txt", ".ascii")
DATASET_FILE = re.compile(r"^[a-z_]+_\d{5,}\.(png|txt|ascii)$")
# sd-scripts caches latents and text-encoder outputs beside the images (cache_*_to_disk)
TRAINER_CACHE = re.compile(r"^([a-z_]+_\d{5,})_.*\.npz$")


def fingerprint(cfg: DatasetConfig) -> str:
    """Hash of everything that decides image content, generator version included."""
    payload = {"generator": __version__, "structure": STRUCTURE_REVISION, "png": PNG_FORMAT,
               "dataset": cfg.content_fingerprint()}
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


def _write_one(cfg_json: str, out: str, family: str, index: int, cached: bool = False, present: bool = True) -> WriteResult:
    """Generate image ``index`` and write each of its files unless identical bytes are there.

    Takes the config as JSON so process-pool workers receive a small picklable string.
    ``cached``/``present``: whether the directory held trainer caches / any file of this image
    when the run began (one scan up front, not a directory listing or three failed reads per image).
    """
    cfg = _config(cfg_json)
    s = make_sample(cfg, family, index)
    hashes, written, nbytes = {}, 0, 0
    for ext, data in ((".png", s.png), (".txt", s.caption.encode()), (".ascii", s.ascii.encode())):
        name = s.name + ext
        path = os.path.join(out, name)
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


def read_manifest(out: Path) -> dict | None:
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or "fingerprint" not in data:
            raise ValueError("no fingerprint")
        return data
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: unreadable manifest ({e}); remove the directory or pass --force") from None


def _versions() -> dict[str, str]:
    # zlib: the PNG bytes come from the runtime zlib's deflate, so it is part of "byte-identical"
    return {"ascii_lora": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "pillow": PIL.__version__, "zlib": zlib.ZLIB_RUNTIME_VERSION}


def _atlas_facts(cell: int) -> dict:
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


def check_directory(out: Path, cfg: DatasetConfig, force: bool) -> dict | None:
    """Refuse a directory that holds another dataset or foreign files; return the old manifest."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a directory; choose another --out")
    if not out.exists():
        return None
    try:
        old = read_manifest(out)
    except UserError:
        if not force:
            raise
        old = None
    foreign = sorted(
        p.name for p in out.iterdir()
        if p.name != MANIFEST and not DATASET_FILE.match(p.name) and not TRAINER_CACHE.match(p.name)
        and not p.name.startswith(".ascii-lora-tmp-")
    )
    if foreign:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise UserError(
            f"{out}: holds {len(foreign)} file(s) that are not part of an ascii-lora dataset ({shown}); "
            "Kohya would train on them too: choose an empty or new --out"
        )
    if old is not None and old["fingerprint"] != fingerprint(cfg) and not force:
        raise UserError(
            f"{out}: holds a dataset of another config (fingerprint {old['fingerprint']}, "
            f"seed {old.get('seed')}, now {fingerprint(cfg)}, seed {cfg.seed}); "
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
    old = check_directory(out, cfg, force)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    schedule = family_schedule(cfg.mix.weights(), cfg.count)
    families = dict(Counter(schedule))
    summary = DatasetSummary(out, cfg.count, families, workers=workers)

    # files of this dataset that are already right can be trusted without regenerating them
    same = old is not None and old["fingerprint"] == fingerprint(cfg)
    known = old.get("files", {}) if same else {}
    expected = {f"{sample_name(fam, i)}{ext}" for i, fam in enumerate(schedule) for ext in EXTENSIONS}
    stems = {n.rsplit(".", 1)[0] for n in expected}
    cached: set[str] = set()
    present: set[str] = set()
    for p in out.iterdir():
        cache = TRAINER_CACHE.match(p.name)
        if (DATASET_FILE.match(p.name) and p.name not in expected) or (cache and cache.group(1) not in stems):
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
    if workers <= 1 or len(todo) < 2:
        results: Iterable[WriteResult] = (
            _write_one(cfg_json, str(out), f, i, sample_name(f, i) in cached, sample_name(f, i) in present)
            for f, i in todo
        )
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        chunk = max(1, len(todo) // (workers * 8))
        results = pool.map(_write_one, [cfg_json] * len(todo), [str(out)] * len(todo),
                           [f for f, _ in todo], [i for _, i in todo],
                           [sample_name(f, i) in cached for f, i in todo],
                           [sample_name(f, i) in present for f, i in todo], chunksize=chunk)
    try:
        for r in progress(results, len(todo)) if progress else results:
            summary.hashes.update(r.hashes)
            summary.bytes_written += r.bytes_written
            if r.files_written:
                summary.written += 1
            else:
                summary.skipped += 1
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)

    atomic_write(out / MANIFEST, _manifest(cfg, "complete", families, summary.hashes))
    summary.bytes_total = sum((out / n).stat().st_size for n in summary.hashes)
    summary.seconds = time.perf_counter() - start
    return summary


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
