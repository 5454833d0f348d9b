"""Agreement of `ascii-lora check` with a careful person's verdicts, family by family.

    python tools/judge_checker.py SEED COUNT [family,family,...]

tests/checker_cases.py draws COUNT pictures per family for SEED (half dense, half sparse), each
with the verdict a person gives it. A case agrees when all four criteria, the pass verdict and
the offset (where the person sees one) match. Draw a fresh SEED for a measurement you report:
the thresholds were tuned on other seeds.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ascii_lora.check.score import check_gray  # noqa: E402
from ascii_lora.config.models import CheckConfig  # noqa: E402
from ascii_lora.grid.atlas import get_atlas  # noqa: E402
from tests import checker_cases as cases  # noqa: E402


def agrees(case: cases.Case, r) -> bool:
    if (r.criteria["content"], r.criteria["grid_aligned"], r.criteria["crisp"], r.passed) != (
        case.content,
        case.aligned,
        case.crisp,
        case.passed,
    ):
        return False
    if case.offset is None or not case.content:
        return True
    if case.offset == (0, 0):
        return r.offset == [0, 0] and not any("shifted" in n for n in r.notes)
    return r.offset is not None and all(
        min(abs(a - b), 16 - abs(a - b)) <= case.offset_slack
        for a, b in zip(r.offset, case.offset, strict=False)
    )


def main(argv: list[str]) -> int:
    seed, count = int(argv[0]), int(argv[1])
    families = argv[2].split(",") if len(argv) > 2 else cases.FAMILIES
    cfg, atlas = CheckConfig(), get_atlas(16)
    print(f"seed {seed}, {count} pictures per family")
    print("| family | agree | rate | ms/picture |\n|---|---:|---:|---:|")
    for family in families:
        ok, spent, misses = 0, 0.0, []
        for case in cases.family_cases(family, seed, count):
            t = time.perf_counter()
            r, _ = check_gray("x", case.image.astype(np.float32), cfg, atlas)
            spent += time.perf_counter() - t
            if agrees(case, r):
                ok += 1
            else:
                misses.append(f"{case.note}: {r.criteria} offset {r.offset} ({'; '.join(r.notes)})")
        print(f"| {family} | {ok}/{count} | {ok / count:.0%} | {spent / count * 1000:.0f} |")
        for m in misses:
            print(f"  disagrees: {m}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
