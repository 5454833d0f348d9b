"""The tree is the pipeline: each stage package imports only the stages before it.

Read from the source with ``ast`` (nothing is imported), so a new module that breaks a
direction fails here before it forms a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).parents[1] / "src" / "ascii_lora"

STAGES = ("config", "grid", "dataset", "train", "check", "verify", "publish", "rehearse", "cli")
# Shared modules at the top level: anyone may import them; they import no stage.
SHARED = {"console", "errors", "fsutil", "imageio", "interrupts"}
# What each stage may import (besides itself and the shared modules).
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "grid": set(),
    "dataset": {"config", "grid"},
    "train": {"config", "grid", "dataset"},
    "check": {"config", "grid"},
    "verify": {"config", "grid", "dataset", "train", "check"},
    "publish": {"config", "grid", "dataset", "train", "check", "verify"},  # it quotes verify's measurements
    "rehearse": {"config", "grid", "dataset", "train", "check", "verify"},  # it rehearses drawing too
    "cli": set(STAGES) - {"cli"},
}
# Entry points meant to print (developer tools, run with python -m); everything else prints through cli/.
PRINTS_ALLOWED = {"bench.py", "config/reference.py", "console.py",
                  "train/simpletuner_accept.py",  # runs in the SimpleTuner environment, by file path
                  "verify/draw_worker.py"}  # the worker is its own program: stdout is its protocol


def module_name(path: Path) -> list[str]:
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_targets(path: Path) -> set[tuple[str, ...]]:
    """Absolute module paths (inside ascii_lora) that ``path`` imports, relative imports resolved."""
    tree = ast.parse(path.read_text())
    here = module_name(path)
    package = here if path.name == "__init__.py" else here[:-1]
    out: set[tuple[str, ...]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == "ascii_lora":
                target = node.module.split(".")[1:]
            else:
                continue
            if not node.module:  # from . import a, b: each name may be a module
                out |= {(*target, a.name) for a in node.names}
            else:
                out.add(tuple(target))
        elif isinstance(node, ast.Import):
            out |= {tuple(a.name.split(".")[1:]) for a in node.names if a.name.split(".")[0] == "ascii_lora"}
    return out


SOURCES = sorted(PKG.rglob("*.py"))


def test_every_stage_is_a_package_with_a_docstring_saying_what_it_must_not_import():
    for stage in STAGES:
        doc = ast.get_docstring(ast.parse((PKG / stage / "__init__.py").read_text()))
        assert doc and "Enters" in doc and "Leaves" in doc, f"{stage}/__init__.py must say what enters and leaves"
        assert "never" in doc or "nothing" in doc.lower() or "no other stage" in doc, f"{stage}/__init__.py must say what it must not import"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_follow_the_pipeline(path: Path):
    me = module_name(path)
    stage = me[0] if me and me[0] in STAGES else None
    for target in imported_targets(path):
        if not target or target[0] not in STAGES:
            continue  # the package root (__version__, TRIGGER_WORD) or a shared module
        other = target[0]
        if stage is None:
            assert me and me[0] not in SHARED, f"{path.name}: shared module imports stage {other}"
            continue  # bench / __main__ may use every stage
        assert other == stage or other in ALLOWED[stage], f"{'/'.join(me)} imports {'.'.join(target)}: {stage}/ must not import {other}/"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PKG)))
def test_only_cli_prints(path: Path):
    rel = str(path.relative_to(PKG))
    if rel.startswith("cli/") or rel in PRINTS_ALLOWED:
        return
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            pytest.fail(f"{rel}:{node.lineno} prints; return the result and let cli/ print it")
        if isinstance(node, ast.ImportFrom) and node.module and node.module.endswith("console") and node.level:
            pytest.fail(f"{rel}:{node.lineno} imports the console; only cli/ prints")


def test_the_checker_reads_with_the_same_atlas_the_generator_draws_with():
    """One source of truth: both stages reach the atlas through grid/, neither owns a copy."""
    users = {tuple(module_name(p)) for p in SOURCES if ("grid", "atlas") in imported_targets(p)}
    assert any(u[0] == "dataset" for u in users) and any(u[0] == "check" for u in users)
