"""`make bench` keeps working: its generation measurement runs end to end on a handful of images.

Nothing here checks a time (speed goals live in `make bench` itself); only that every number the
report prints is there and that the pipeline it times writes a real dataset image.
"""

from __future__ import annotations

from ascii_lora.bench import bench_generation
from ascii_lora.config.models import DatasetConfig


def test_bench_generation_reports_every_family_on_one_worker_and_all_cores():
    cfg = DatasetConfig(
        mix={
            "dungeon": 1.0,
            "maze": 1.0,
            "text": 1.0,
            "rooms_and_mazes": 0.0,
            "cave": 0.0,
            "corridor": 0.0,
            "mixed": 0.0,
        }
    )
    r = bench_generation(cfg, count=6, rounds=1)
    assert set(r["families"]) == {"dungeon", "maze", "text"}
    for table in (r["one"], r["all_cores"]):
        for times in table.values():
            assert set(times) == {*r["families"], "all"} and all(t > 0 for t in times.values())
    assert set(r["structure_ms"]) == set(r["families"])
    assert r["images"]["all"] == 6 and sum(r["images"][f] for f in r["families"]) == 6
