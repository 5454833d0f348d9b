"""Mutation score of the core modules, one module at a time, each against the tests written for it.

mutmut alone would run, for every mutant, every test that happens to call the mutated function:
captions' helpers are reached by the dataset, checker and CLI tests too, which made one mutant
cost ~12 s here. So each module gets its own sandbox (build/mutation/<module>/, a copy of the
checkout) whose [tool.mutmut] mutates only that module and collects tests only from its test
files below: a mutant must be killed by the tests that claim to specify that module.

    python tools/mutation.py                   # every module (hours on a 2-core box)
    python tools/mutation.py captions ranking  # some
    python tools/mutation.py --report          # scores from the last runs, no new run

Equivalent mutants (no test can tell them apart: same behaviour) are listed with a reason in
tools/mutation_equivalent.txt and leave the denominator; everything else not killed counts
against the score, "no tests" included.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "mutation"
EQUIVALENT = ROOT / "tools" / "mutation_equivalent.txt"

# module key -> (source file under src/ascii_lora, the test files that specify it)
MODULES: dict[str, tuple[str, list[str]]] = {
    "atlas": ("grid/atlas.py", ["test_atlas.py"]),
    "sample": ("dataset/sample.py", ["test_dataset.py"]),
    "png": ("dataset/png.py", ["test_png.py", "test_dataset.py"]),
    "captions": ("dataset/captions.py", ["test_captions.py"]),
    # test_cli.py left out: it drives the writer only through `ascii-lora dataset`, and collecting it
    # (the whole CLI) costs every one of the 533 mutants
    "writer": ("dataset/writer.py", ["test_writer.py", "test_dataset.py"]),
    "workers": ("dataset/workers.py", ["test_workers.py", "test_swallowed_stop.py"]),
    "validate": ("dataset/validate.py", ["test_validate.py", "test_dataset.py"]),
    "models": (
        "config/models.py",
        ["test_config_warnings.py", "test_plan.py", "test_cli.py", "test_dataset.py", "test_docs.py"],
    ),
    "loader": ("config/loader.py", ["test_config_loader.py", "test_cli.py", "test_plan.py"]),
    "plan": ("train/kohya/plan.py", ["test_plan.py", "test_simpletuner.py"]),
    "preflight": ("train/preflight.py", ["test_preflight.py"]),
    "launcher": ("train/launcher.py", ["test_launcher.py", "test_resume.py", "test_stop.py"]),
    "lora_inspect": ("train/lora_inspect.py", ["test_inspect.py", "test_simpletuner.py"]),
    # test_check.py reaches score only through whole checks, ~12 s a mutant (467 mutants): its
    # criteria are specified on hand-built pictures in test_score.py, which runs in ~3 s
    "score": ("check/score.py", ["test_score.py"]),
    "grid_detect": ("check/grid_detect.py", ["test_grid_detect.py", "test_check.py"]),
    "ranking": ("check/ranking.py", ["test_ranking.py", "test_simpletuner.py", "test_check.py"]),
    "jobs": ("verify/jobs.py", ["test_verify_jobs.py", "test_bad_inputs_reuse.py"]),
    "segments": ("train/segments.py", ["test_segments.py", "test_resume.py", "test_bad_inputs_reuse.py"]),
    "runs": (
        "train/runs.py",
        ["test_runs.py", "test_resume.py", "test_bad_inputs_reuse.py", "test_bad_inputs_files.py"],
    ),
    "simpletuner_plan": (
        "train/simpletuner/plan.py",
        ["test_simpletuner_plan.py", "test_simpletuner.py", "test_bad_inputs_reuse.py"],
    ),
    # geometry and readback are reached mostly through whole checks (check_gray; test_check_geometry.py
    # and test_check_v3.py together take ~11 s); test_geometry_parts.py and test_readback_parts.py
    # pin the two modules' pieces in a few seconds
    "geometry": (
        "check/geometry.py",
        ["test_geometry_parts.py", "test_check_geometry.py", "test_check_v3.py", "test_score.py"],
    ),
    "readback": (
        "check/readback.py",
        ["test_readback_parts.py", "test_check_v3.py", "test_check_geometry.py"],
    ),
}
_CHECK_PIPELINE = [
    "test_check_geometry.py::test_make_check_ranks_a_dense_foreign_font_checkpoint_over_blank_and_off_grid",
    "test_check_v3.py::test_a_checkpoint_of_degenerate_pictures_never_outranks_one_of_sparse_panels",
]
# tests left out of one module's selection: each one repeats a path that faster tests of the same
# selection already specify, at a cost that would multiply by every mutant
DESELECT: dict[str, list[str]] = {
    # 768 full checks (~40 s): every shift; test_grid_detect.py asserts every shift of fit_grid
    # directly, and test_check.py's shifted, blurred and other-cell pictures stay in
    "grid_detect": ["test_check.py::test_every_one_of_the_256_shifts_is_found_exactly_and_fails_alignment"],
    # the CLI plan + dry run (~2.4 s) and a whole `check` of validation images (~1.2 s) were 85 % of the
    # selection's time (~7 s a mutant on the shared box); the plan's values are asserted directly by
    # test_simpletuner.py's config tests, the shell line and the checkpoint scan by test_simpletuner_plan.py
    "simpletuner_plan": [
        "test_simpletuner.py::test_plan_and_dry_run_from_the_cli",
        "test_simpletuner.py::test_check_ranks_simpletuner_validation_images_and_finds_their_checkpoints",
    ],
    # the two slowest tests of the pair (~1.1 s each, of ~25 s): rankings over six whole checks, which
    # assert the ranking; each picture's verdict is asserted by the family and piece-by-piece tests
    "geometry": _CHECK_PIPELINE,
    "readback": _CHECK_PIPELINE,
}


def _tracked_top_level() -> list[str]:
    """Everything the tests may read: the checkout's tracked top-level entries, less the submodule."""
    r = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True)
    names = {line.split("/")[0] for line in r.stdout.splitlines()} if r.returncode == 0 else set()
    names = sorted(names - {"vendor", "pyproject.toml"})
    return names or ["src", "tests", "tools", "configs", ".ci", "README.md", "Makefile", ".gitmodules"]


COPY = _tracked_top_level()
KILLED = {1, 3, 24, -24, 152, 255, 36, 37, -11, -9}  # failed, crashed, timed out or type error
STATUS = {0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", None: "not checked"}


def pyproject_for(source: str, tests: list[str], deselect: list[str] = ()) -> str:
    """The checkout's pyproject.toml with a [tool.mutmut] for one module."""
    text = (ROOT / "pyproject.toml").read_text()
    text = re.split(r"\n\[tool\.mutmut\]\n", text)[0].rstrip() + "\n"
    selection = ", ".join([f'"tests/{t}"' for t in tests] + [f'"--deselect", "tests/{t}"' for t in deselect])
    return text + (
        "\n[tool.mutmut]\n"
        'source_paths = ["src/ascii_lora/"]\n'
        f'only_mutate = ["src/ascii_lora/{source}"]\n'
        f"pytest_add_cli_args_test_selection = [{selection}]\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-q"]\n'
        # each mutant in a fresh process: a parent that already filled lru_caches (the atlas's
        # tiles) would hide every mutant in the code that fills them
        'process_isolation = "forkserver"\nforkserver_warmup = "none"\n'
        f"also_copy = {json.dumps([n for n in COPY if n not in ('src', 'tests')] + ['conftest.py'])}\n"
    )


# The sandbox's own root conftest: mutmut hands pytest a mutant's tests in no useful order, and
# with -x a mutant is done at its first failure, so the fast piece-by-piece files go first.
ORDER_CONFTEST = '''"""Written by tools/mutation.py into its sandbox only: the fast *_parts.py tests run first."""


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: "_parts.py" not in item.nodeid)
'''


def sandbox(key: str) -> Path:
    source, tests = MODULES[key]
    box = WORK / key
    for name in COPY:
        src, dst = ROOT / name, box / name
        if dst.is_dir():
            shutil.rmtree(dst)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dst)
    (box / "pyproject.toml").write_text(pyproject_for(source, tests, DESELECT.get(key, [])))
    (box / "conftest.py").write_text(ORDER_CONFTEST)
    shutil.rmtree(box / "mutants", ignore_errors=True)  # results of another source would mislead
    return box


def equivalent() -> dict[str, str]:
    out = {}
    if EQUIVALENT.exists():
        for line in EQUIVALENT.read_text().splitlines():
            name, _, why = line.partition("#")
            if name.strip():
                out[name.strip()] = why.strip()
    return out


def results(key: str) -> dict[str, int | None] | None:
    source, _ = MODULES[key]
    meta = WORK / key / "mutants" / "src" / "ascii_lora" / (source + ".meta")
    if not meta.exists():
        return None
    return json.loads(meta.read_text())["exit_code_by_key"]


def summarise(key: str) -> tuple[str, list[str]] | None:
    codes = results(key)
    if codes is None:
        return None
    same = equivalent()
    counted = {k: v for k, v in codes.items() if k not in same}
    checked = {k: v for k, v in counted.items() if v is not None}
    killed = sum(v in KILLED for v in checked.values())
    left = sorted(k for k, v in checked.items() if v not in KILLED)
    if not checked:
        return f"{key:13s} did not run: see {(WORK / key / 'mutmut.log').relative_to(ROOT)}", []
    score = 100 * killed / len(checked)
    line = (
        f"{key:13s} {score:5.1f}% killed  ({killed} of {len(checked)} checked; "
        f"{len(codes) - len(counted)} equivalent; {len(counted) - len(checked)} not run)"
    )
    return line, [f"{k}  {STATUS.get(checked[k], checked[k])}" for k in left]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", help=f"any of: {' '.join(MODULES)} (default: all)")
    ap.add_argument("--report", action="store_true", help="only print the scores of earlier runs")
    ap.add_argument("--max-children", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    a = ap.parse_args(argv)
    unknown = [m for m in a.modules if m not in MODULES]
    if unknown:
        print(f"unknown module(s) {unknown}; choose from: {' '.join(MODULES)}", file=sys.stderr)
        return 2
    keys = a.modules or list(MODULES)
    mutmut = Path(sys.executable).parent / "mutmut"
    if not a.report:
        for key in keys:
            box = sandbox(key)
            less = "".join(f" less {t}" for t in DESELECT.get(key, []))
            print(f"== {key}: {MODULES[key][0]} against {', '.join(MODULES[key][1])}{less}", flush=True)
            with open(box / "mutmut.log", "w") as log:
                subprocess.run(
                    [str(mutmut), "run", "--max-children", str(a.max_children)],
                    cwd=box,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
    print("mutation score (mutmut; killed / checked, equivalent mutants excluded):")
    for key in keys:
        summary = summarise(key)
        if summary is None:
            print(f"{key:13s} not run")
            continue
        line, left = summary
        print(line)
        listing = WORK / key / "survivors.txt"
        listing.write_text("".join(f"{s}\n" for s in left))
        if left:
            print(
                f"{'':13s} survivors: {listing.relative_to(ROOT)} (inspect: cd {(WORK / key).relative_to(ROOT)} && mutmut show NAME)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
