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
    # it rehearses drawing and publishing too (publish --dry-run on the LoRA the real trainer made)
    "rehearse": {"config", "grid", "dataset", "train", "check", "verify", "publish"},
    "cli": set(STAGES) - {"cli"},
}
# Entry points meant to print (developer tools, run with python -m); everything else prints through cli/.
PRINTS_ALLOWED = {
    "bench.py",
    "config/reference.py",
    "console.py",
    "train/simpletuner/accept.py",  # runs in the SimpleTuner environment, by file path
    "verify/draw_worker.py",
}  # the worker is its own program: stdout is its protocol


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
        assert doc and "Enters" in doc and "Leaves" in doc, (
            f"{stage}/__init__.py must say what enters and leaves"
        )
        assert "never" in doc or "nothing" in doc.lower() or "no other stage" in doc, (
            f"{stage}/__init__.py must say what it must not import"
        )


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
        assert other == stage or other in ALLOWED[stage], (
            f"{'/'.join(me)} imports {'.'.join(target)}: {stage}/ must not import {other}/"
        )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PKG)))
def test_only_cli_prints(path: Path):
    rel = str(path.relative_to(PKG))
    if rel.startswith("cli/") or rel in PRINTS_ALLOWED:
        return
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            pytest.fail(f"{rel}:{node.lineno} prints; return the result and let cli/ print it")
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.endswith("console")
            and node.level
        ):
            pytest.fail(f"{rel}:{node.lineno} imports the console; only cli/ prints")


def test_the_checker_reads_with_the_same_atlas_the_generator_draws_with():
    """One source of truth: both stages reach the atlas through grid/, neither owns a copy."""
    users = {tuple(module_name(p)) for p in SOURCES if ("grid", "atlas") in imported_targets(p)}
    assert any(u[0] == "dataset" for u in users) and any(u[0] == "check" for u in users)


def import_graph() -> dict[tuple[str, ...], set[tuple[str, ...]]]:
    """Module -> the modules of ascii_lora it imports, anywhere in it (a function body or a TYPE_CHECKING
    block included: a circle hidden there is still a circle between files)."""
    modules = {tuple(module_name(p)): p for p in SOURCES}
    return {
        me: {t for t in imported_targets(path) if t in modules and t != me} for me, path in modules.items()
    }


def import_cycles(graph: dict[tuple[str, ...], set[tuple[str, ...]]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each as sorted dotted names."""
    index: dict = {}
    low: dict = {}
    stack: list = []
    on_stack: set = set()
    cycles: list[list[str]] = []

    def visit(v) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(".".join(w) or "ascii_lora")
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_the_cycle_finder_sees_a_circle_and_a_chain_for_what_they_are():
    a, b, c = ("a",), ("b",), ("c",)
    assert import_cycles({a: {b}, b: {c}, c: {a}}) == [["a", "b", "c"]]
    assert import_cycles({a: {b}, b: {c}, c: set()}) == []


def test_no_module_imports_one_that_imports_it_back():
    cycles = import_cycles(import_graph())
    assert not cycles, f"import circles between files (break each by moving the shared part out): {cycles}"


def test_cli_never_branches_on_the_trainer_kind():
    """The registry picks the trainer; cli/ asks it, so a third trainer needs no edit in cli/."""
    for path in sorted((PKG / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                names = [n for n in ast.walk(node) if isinstance(n, ast.Attribute) and n.attr == "kind"]
                texts = [
                    n.value
                    for n in ast.walk(node)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)
                ]
                assert not names and not {"kohya", "simpletuner"} & set(texts), (
                    f"cli/{path.name}:{node.lineno} compares the trainer kind; ask train.registry's trainer instead"
                )


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
# Modules or folders not yet split (none today); a new entry must say why, and leaves once it fits.
SIZE_EXEMPT: set[str] = set()


def _exempt(rel: str) -> bool:
    return any(rel == e or (e.endswith("/") and rel.startswith(e)) for e in SIZE_EXEMPT)


def oversized(path: Path, rel: str) -> list[str]:
    """What in one source file is over the size limits: the module, or a function (nested ones too)."""
    text = path.read_text()
    found = []
    if len(text.splitlines()) > MAX_MODULE_LINES:
        found.append(f"{rel}: {len(text.splitlines())} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                found.append(f"{rel}:{node.lineno} {node.name}: {lines} lines (at most {MAX_FUNCTION_LINES})")
    return found


def test_the_size_check_sees_a_long_function_and_a_long_module(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    long_function = tmp_path / "f.py"
    long_function.write_text(f"def f():\n{body}\n")
    assert oversized(long_function, "f.py") == [
        f"f.py:1 f: {MAX_FUNCTION_LINES + 1} lines (at most {MAX_FUNCTION_LINES})"
    ]
    long_module = tmp_path / "m.py"
    long_module.write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    assert len(oversized(long_module, "m.py")) == 1
    long_module.write_text("x = 1\n" * MAX_MODULE_LINES)
    assert oversized(long_module, "m.py") == []


def test_no_module_over_400_lines_and_no_function_over_80():
    found = []
    for path in SOURCES:
        rel = str(path.relative_to(PKG))
        if not _exempt(rel):
            found += oversized(path, rel)
    assert not found, "split these (one job per function, one concern per module):\n" + "\n".join(found)


def test_the_exemptions_are_still_needed():
    """An exemption left behind after its split would let the next long function in unseen."""
    for entry in SIZE_EXEMPT:
        paths = sorted((PKG / entry).rglob("*.py")) if entry.endswith("/") else [PKG / entry]
        assert any(oversized(p, entry) for p in paths), f"{entry} now fits: remove it from SIZE_EXEMPT"
