"""Extract the facts our tests need about the pinned Kohya sd-scripts by reading its source.

The tests prove that `ascii-lora plan` emits only what the trainer accepts, but a user's clone (and
CI) has no trainer and no torch. So this tool reads sd-scripts' Python with `ast` alone (nothing
is imported or executed) and writes a JSON fixture that is committed under tests/ together with
the commit it came from; a test re-runs the extraction whenever vendor/sd-scripts is checked out
and fails if the fixture has drifted. Regenerate with `make facts`.

What is read, and from where:
- every argparse flag of `flux_train_network.py`'s `setup_parser()`, following the helper calls
  into library/*.py with their boolean arguments (type, choices, nargs, store_true, default);
- the voluptuous dataset-config schema of `library/config_util.py` (`ConfigSanitizer`), composed
  the way `train_network.py` constructs it, for `[general]`, `[[datasets]]`, `[[datasets.subsets]]`;
- the LoRA modules `networks/lora_flux.py` creates on FLUX.1-dev (names and Linear shapes), by
  symbolically building `library/flux_models.Flux(configs["dev"].params)`;
- the version pins of requirements.txt.
The interpreters below understand only the constructs these files use; anything else raises
`Unsupported` so that an upstream change is noticed instead of silently misread.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = 1


class Unsupported(Exception):
    """A construct the extractor does not model: fail loudly rather than guess."""


# ------------------------------------------------------------------------------------------------
# source access
# ------------------------------------------------------------------------------------------------
class Source:
    """The sd-scripts tree: files by path, parsed once."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._trees: dict[str, ast.Module] = {}

    def text(self, rel: str) -> str:
        return (self.root / rel).read_text(encoding="utf-8")

    def tree(self, rel: str) -> ast.Module:
        if rel not in self._trees:
            with warnings.catch_warnings():  # sd-scripts' own invalid escapes are not our concern
                warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
                self._trees[rel] = ast.parse(self.text(rel), filename=rel)
        return self._trees[rel]

    def module_file(self, dotted: str) -> str | None:
        rel = dotted.replace(".", "/") + ".py"
        return rel if (self.root / rel).is_file() else None

    def commit(self) -> str:
        r = subprocess.run(["git", "-C", str(self.root), "rev-parse", "HEAD"], capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(f"{self.root}: not a git checkout, so the commit of these facts is unknown")
        return r.stdout.strip()


def top_function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def top_class(tree: ast.Module, name: str) -> ast.ClassDef | None:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    return None


def imports_of(src: Source, rel: str) -> dict[str, tuple[str, str | None]]:
    """Local name -> (module file, attribute or None) for the project-internal imports of a file."""
    out: dict[str, tuple[str, str | None]] = {}
    for node in src.tree(rel).body:
        if isinstance(node, ast.Import):
            for a in node.names:
                f = src.module_file(a.name)
                if f:
                    out[a.asname or a.name.split(".")[0]] = (f, None)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = src.module_file(f"{node.module}.{a.name}")
                if sub:  # `from library import train_util`
                    out[a.asname or a.name] = (sub, None)
                    continue
                f = src.module_file(node.module)
                if f:  # `from library.utils import add_logging_arguments`
                    out[a.asname or a.name] = (f, a.name)
    return out


def module_constants(tree: ast.Module) -> dict[str, Any]:
    """Module-level NAME = <literal> assignments (used for defaults such as DEFAULT_X)."""
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


# ------------------------------------------------------------------------------------------------
# argparse flags
# ------------------------------------------------------------------------------------------------
BUILTIN_TYPES = {"str", "int", "float", "Path", "bool"}


class ParserWalker:
    """Walks parser-building functions, recording every `add_argument` on the parser object."""

    def __init__(self, src: Source):
        self.src = src
        self.flags: list[dict] = []

    def run(self, rel: str, func: str) -> list[dict]:
        fn = top_function(self.src.tree(rel), func)
        if fn is None:
            raise Unsupported(f"{rel}: no function {func}()")
        self._call(rel, fn, [], {})
        return self.flags

    # -- execution of one function body ----------------------------------------------------------
    def _call(self, rel: str, fn: ast.FunctionDef, args: list, kwargs: dict) -> Any:
        env = self._bind(fn, args, kwargs, rel)
        env["__rel__"] = rel
        env["__local_funcs__"] = set()
        self._block(fn.body, env)
        return env.get("__return__")

    def _bind(self, fn: ast.FunctionDef, args: list, kwargs: dict, rel: str) -> dict:
        params = [a.arg for a in fn.args.args]
        defaults = fn.args.defaults
        env: dict[str, Any] = {}
        for name, d in zip(params[len(params) - len(defaults) :], defaults, strict=False):
            env[name] = ast.literal_eval(d)
        for name, v in zip(params, args, strict=False):
            env[name] = v
        env.update(kwargs)
        missing = [p for p in params if p not in env]
        if missing:
            raise Unsupported(f"{rel}:{fn.name}() called without {missing}")
        return env

    def _block(self, body: list[ast.stmt], env: dict) -> None:
        for stmt in body:
            if "__return__" in env:
                return  # code after a return does not run
            self._stmt(stmt, env)

    def _stmt(self, stmt: ast.stmt, env: dict) -> None:
        if isinstance(stmt, ast.Expr):
            if isinstance(stmt.value, ast.Call):
                self._expr_call(stmt.value, env)
            # docstrings and other bare expressions change nothing
        elif isinstance(stmt, ast.FunctionDef):
            env["__local_funcs__"].add(stmt.name)  # e.g. a local `int_or_float` used as type=
        elif isinstance(stmt, ast.If):
            self._block(stmt.body if self._truth(stmt.test, env) else stmt.orelse, env)
        elif isinstance(stmt, ast.Assign):
            v = stmt.value
            if isinstance(v, ast.Call) and self._is_parser_call(v, env):
                raise Unsupported(f"{env['__rel__']}:{stmt.lineno}: argument groups are not modelled")
            if len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                if (
                    isinstance(v, ast.Call)
                    and isinstance(v.func, ast.Attribute)
                    and v.func.attr == "ArgumentParser"
                ):
                    env[stmt.targets[0].id] = PARSER
                elif (
                    isinstance(v, ast.Call) and (target := self._resolve(v.func, env["__rel__"])) is not None
                ):
                    args = [self._value(a, env) for a in v.args]
                    kwargs = {k.arg: self._value(k.value, env) for k in v.keywords}
                    env[stmt.targets[0].id] = self._call(
                        target[0], target[1], args, kwargs
                    )  # parser = setup_parser()
                else:
                    try:
                        env[stmt.targets[0].id] = self._value(v, env)
                    except Unsupported:
                        env[stmt.targets[0].id] = OPAQUE
        elif isinstance(stmt, ast.Return):
            env["__return__"] = self._value(stmt.value, env) if stmt.value else None
        elif isinstance(stmt, (ast.Pass, ast.Import, ast.ImportFrom)):
            pass
        else:
            raise Unsupported(f"{env['__rel__']}:{stmt.lineno}: {type(stmt).__name__} in a parser function")

    def _is_parser_call(self, call: ast.Call, env: dict) -> bool:
        f = call.func
        return (
            isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and env.get(f.value.id) is PARSER
        )

    def _truth(self, test: ast.expr, env: dict) -> bool:
        v = self._value(test, env)
        if v is OPAQUE:
            raise Unsupported(
                f"{env['__rel__']}:{test.lineno}: condition {ast.unparse(test)} cannot be decided"
            )
        return bool(v)

    def _expr_call(self, call: ast.Call, env: dict) -> None:
        rel = env["__rel__"]
        f = call.func
        if self._is_parser_call(call, env):
            if f.attr != "add_argument":
                raise Unsupported(f"{rel}:{call.lineno}: parser.{f.attr}() is not modelled")
            self.flags.append(self._flag(call, env))
            return
        args = [self._value(a, env) for a in call.args]
        kwargs = {k.arg: self._value(k.value, env) for k in call.keywords}
        if PARSER not in args and PARSER not in kwargs.values():
            return  # a call that does not touch the parser (logging etc.)
        target = self._resolve(f, rel)
        if target is None:
            raise Unsupported(f"{rel}:{call.lineno}: cannot follow {ast.unparse(f)}(parser, ...)")
        self._call(target[0], target[1], args, kwargs)

    def _resolve(self, f: ast.expr, rel: str) -> tuple[str, ast.FunctionDef] | None:
        imports = imports_of(self.src, rel)
        if isinstance(f, ast.Name):
            fn = top_function(self.src.tree(rel), f.id)
            if fn is not None:
                return rel, fn
            if f.id in imports and imports[f.id][1]:
                mod, attr = imports[f.id]
                fn = top_function(self.src.tree(mod), attr)
                return (mod, fn) if fn else None
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in imports:
            mod, attr = imports[f.value.id]
            if attr is None:
                fn = top_function(self.src.tree(mod), f.attr)
                return (mod, fn) if fn else None
        return None

    def _value(self, node: ast.expr, env: dict) -> Any:
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            if node.id in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[node.id]
            consts = module_constants(self.src.tree(env["__rel__"]))
            if node.id in consts:
                return consts[node.id]
            return OPAQUE
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            v = self._value(node.operand, env)
            return OPAQUE if v is OPAQUE else not v
        if isinstance(node, ast.BoolOp):
            vals = [self._value(v, env) for v in node.values]
            if OPAQUE in vals:
                return OPAQUE
            return all(vals) if isinstance(node.op, ast.And) else any(vals)
        try:
            return ast.literal_eval(node)
        except ValueError:
            return OPAQUE

    # -- one add_argument call ---------------------------------------------------------------------
    def _flag(self, call: ast.Call, env: dict) -> dict:
        rel = env["__rel__"]
        options = [ast.literal_eval(a) for a in call.args]
        kw = {k.arg: k.value for k in call.keywords}
        unknown = set(kw) - {
            "type",
            "default",
            "choices",
            "nargs",
            "action",
            "help",
            "dest",
            "required",
            "metavar",
            "const",
        }
        if unknown or "const" in kw or "required" in kw:
            raise Unsupported(
                f"{rel}:{call.lineno}: add_argument keywords {sorted(unknown | ({'const', 'required'} & set(kw)))}"
            )
        action = ast.literal_eval(kw["action"]) if "action" in kw else "store"
        if action not in ("store", "store_true"):
            raise Unsupported(f"{rel}:{call.lineno}: action={action!r}")
        long = [o for o in options if o.startswith("--")]
        dest = (
            ast.literal_eval(kw["dest"])
            if "dest" in kw
            else (long[0] if long else options[0]).lstrip("-").replace("-", "_")
        )
        store_true = action == "store_true"
        ftype = None
        if "type" in kw:
            t = kw["type"]
            if isinstance(t, ast.Name) and (t.id in BUILTIN_TYPES or t.id in env["__local_funcs__"]):
                ftype = t.id
            else:
                raise Unsupported(f"{rel}:{call.lineno}: type={ast.unparse(t)}")
        if "default" in kw:
            default = self._value(kw["default"], env)
            if default is OPAQUE:
                raise Unsupported(f"{rel}:{call.lineno}: default={ast.unparse(kw['default'])}")
        else:
            default = False if store_true else None
        return {
            "options": options,
            "dest": dest,
            "type": ftype,
            "choices": ast.literal_eval(kw["choices"]) if "choices" in kw else None,
            "nargs": 0 if store_true else (ast.literal_eval(kw["nargs"]) if "nargs" in kw else None),
            "store_true": store_true,
            "default": default,
            "source": f"{rel}:{call.lineno}",
        }


class _Marker:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


PARSER = _Marker("<parser>")
OPAQUE = _Marker("<opaque>")


def extract_flags(src: Source) -> list[dict]:
    flags = ParserWalker(src).run("flux_train_network.py", "setup_parser")
    seen: dict[str, str] = {}
    for f in flags:
        for o in f["options"]:
            if o in seen:  # argparse itself raises on this; the facts would be ambiguous
                raise Unsupported(f"{o} added twice ({seen[o]} and {f['source']})")
            seen[o] = f["source"]
    return flags


# ------------------------------------------------------------------------------------------------
# dataset-config schema (voluptuous)
# ------------------------------------------------------------------------------------------------
def _schema_type(node: ast.expr, where: str) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and node.value is None:
        return "None"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Any":
        return " | ".join(_schema_type(a, where) for a in node.args)
    if isinstance(node, ast.Call) and ast.unparse(node.func) == "functools.partial":
        helper = ast.unparse(node.args[0])
        klass = _schema_type(node.args[1], where)
        if "__validate_and_convert_twodim" in helper:
            return f"[{klass}, {klass}]"
        if "__validate_and_convert_scalar_or_twodim" in helper:
            return f"{klass} | [{klass}, {klass}]"
    raise Unsupported(f"{where}: schema value {ast.unparse(node)}")


def _schema_dict(node: ast.Dict, where: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for k, v in zip(node.keys, node.values, strict=False):
        required = isinstance(k, ast.Call) and ast.unparse(k.func) == "Required"
        key = ast.literal_eval(k.args[0] if required else k)
        out[key] = {"required": required, "type": _schema_type(v, f"{where} {key}")}
    return out


def sanitizer_flags(src: Source) -> tuple[list, dict]:
    """The positional arguments train_network.py gives ConfigSanitizer (a non-literal reads False)."""
    tree = src.tree("train_network.py")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "ConfigSanitizer"
        ):
            values, assumed = [], {}
            for a in node.args:
                try:
                    values.append(ast.literal_eval(a))
                except ValueError:
                    values.append(False)
                    assumed[ast.unparse(a)] = False
            return values, assumed
    raise Unsupported("train_network.py: no ConfigSanitizer(...) call")


def extract_dataset_schema(src: Source) -> dict:
    rel = "library/config_util.py"
    cls = top_class(src.tree(rel), "ConfigSanitizer")
    if cls is None:
        raise Unsupported(f"{rel}: no class ConfigSanitizer")
    consts: dict[str, dict] = {}
    init = None
    for node in cls.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Dict)
            and isinstance(node.targets[0], ast.Name)
        ):
            name = node.targets[0].id
            if name.endswith("_SCHEMA"):
                consts[name] = _schema_dict(node.value, f"{rel}:{node.lineno}")
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            init = node
    args, assumed = sanitizer_flags(src)
    params = [a.arg for a in init.args.args][1:]
    flags = dict(zip(params, args, strict=False))
    attrs: dict[str, dict] = {}

    def part(node: ast.expr, where: str) -> dict:
        if isinstance(node, ast.IfExp):
            cond = node.test
            if not (isinstance(cond, ast.Name) and cond.id in flags):
                raise Unsupported(f"{where}: condition {ast.unparse(cond)}")
            return part(node.body if flags[cond.id] else node.orelse, where)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            if node.attr in consts:
                return consts[node.attr]
            if node.attr in attrs:
                return attrs[node.attr]
        if isinstance(node, ast.Dict):
            out = {}
            for k, v in zip(node.keys, node.values, strict=False):
                key = ast.literal_eval(k)
                if isinstance(v, ast.List) and len(v.elts) == 1:
                    out[key] = {"required": False, "type": "list", "items": part(v.elts[0], where)}
                else:
                    raise Unsupported(f"{where}: dict part {ast.unparse(node)}")
            return out
        raise Unsupported(f"{where}: merge part {ast.unparse(node)}")

    for stmt in init.body:
        if (
            isinstance(stmt, ast.Assign)
            and isinstance(stmt.targets[0], ast.Attribute)
            and isinstance(stmt.value, ast.Call)
            and ast.unparse(stmt.value.func) == "self.__merge_dict"
        ):
            name = stmt.targets[0].attr
            if name in ("argparse_schema",):
                continue
            merged: dict = {}
            for a in stmt.value.args:
                merged.update(part(a, f"{rel}:{stmt.lineno}"))
            attrs[name] = merged
    dataset = dict(attrs["db_dataset_schema"])
    subsets = dataset.pop("subsets")["items"]
    return {
        "constructed_as": f"ConfigSanitizer({', '.join(map(repr, args))}) as in train_network.py"
        + (f", assuming {', '.join(f'{k}={v}' for k, v in assumed.items())}" if assumed else "")
        + "; DreamBooth-style datasets (no metadata_file)",
        "general": dict(sorted(attrs["general_schema"].items())),
        "datasets": dict(sorted(dataset.items())),
        "datasets.subsets": dict(sorted(subsets.items())),
    }


# ------------------------------------------------------------------------------------------------
# LoRA modules of networks.lora_flux on FLUX.1-dev
# ------------------------------------------------------------------------------------------------
@dataclass
class Mod:
    cls: str
    children: dict[str, Mod] = field(default_factory=dict)
    in_features: int | None = None
    out_features: int | None = None

    def __len__(self) -> int:
        return len(self.children)

    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, child in self.children.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)


class ModelBuilder:
    """Symbolic `nn.Module.__init__`: tracks submodule registration order and Linear shapes."""

    def __init__(self, src: Source, rel: str):
        self.src, self.rel = src, rel
        self.tree = src.tree(rel)

    def build(self, cls_name: str, args: list, kwargs: dict) -> Mod:
        cls = top_class(self.tree, cls_name)
        if cls is None:
            raise Unsupported(f"{self.rel}: no class {cls_name}")
        init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
        params = [a.arg for a in init.args.args][1:]
        env: dict[str, Any] = {}
        for name, d in zip(params[len(params) - len(init.args.defaults) :], init.args.defaults, strict=False):
            env[name] = ast.literal_eval(d)
        env.update(zip(params, args, strict=False))
        env.update(kwargs)
        mod = Mod(cls_name)
        env["self"] = mod
        self._block(init.body, env, mod)
        return mod

    def _block(self, body, env, mod: Mod) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target = stmt.targets[0]
                value = self._eval(stmt.value, env)
                if isinstance(target, ast.Name):
                    env[target.id] = value
                elif (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                ):
                    if isinstance(value, Mod):
                        mod.children[target.attr] = value
                    else:
                        env[f"self.{target.attr}"] = value
            elif isinstance(stmt, ast.If):
                self._block(stmt.body if self._eval(stmt.test, env) else stmt.orelse, env, mod)
            elif isinstance(stmt, ast.Raise):
                raise Unsupported(f"{self.rel}:{stmt.lineno}: the model raises for these parameters")
            elif isinstance(stmt, ast.Expr):
                pass  # super().__init__(), docstrings
            else:
                raise Unsupported(f"{self.rel}:{stmt.lineno}: {type(stmt).__name__} in __init__")

    def _eval(self, node: ast.expr, env: dict) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            raise Unsupported(f"{self.rel}:{node.lineno}: unknown name {node.id}")
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                key = f"self.{node.attr}"
                if key in env:
                    return env[key]
                if node.attr in env["self"].children:
                    return env["self"].children[node.attr]
                raise Unsupported(f"{self.rel}:{node.lineno}: self.{node.attr} read before set")
            base = self._eval(node.value, env)
            if isinstance(base, dict):
                return base[node.attr]
            raise Unsupported(f"{self.rel}:{node.lineno}: attribute {ast.unparse(node)}")
        if isinstance(node, ast.BinOp):
            a, b = self._eval(node.left, env), self._eval(node.right, env)
            ops = {
                ast.Add: lambda: a + b,
                ast.Sub: lambda: a - b,
                ast.Mult: lambda: a * b,
                ast.FloorDiv: lambda: a // b,
                ast.Mod: lambda: a % b,
                ast.Pow: lambda: a**b,
                ast.Div: lambda: a / b,
            }
            if type(node.op) not in ops:
                raise Unsupported(f"{self.rel}:{node.lineno}: operator {ast.unparse(node)}")
            return ops[type(node.op)]()
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self._eval(node.operand, env)
        if isinstance(node, ast.BoolOp):
            vals = [self._eval(v, env) for v in node.values]
            if isinstance(node.op, ast.Or):
                return next((v for v in vals if v), vals[-1])
            return next((v for v in vals if not v), vals[-1])
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            a, b = self._eval(node.left, env), self._eval(node.comparators[0], env)
            ops = {ast.NotEq: a != b, ast.Eq: a == b, ast.Lt: a < b, ast.Gt: a > b}
            return ops[type(node.ops[0])]
        if isinstance(node, ast.IfExp):
            return self._eval(node.body if self._eval(node.test, env) else node.orelse, env)
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self._eval(e, env) for e in node.elts]
        if isinstance(node, ast.ListComp):
            return self._listcomp(node, env)
        if isinstance(node, ast.Call):
            return self._call(node, env)
        raise Unsupported(f"{self.rel}:{node.lineno}: expression {ast.unparse(node)}")

    def _listcomp(self, node: ast.ListComp, env: dict) -> list:
        if len(node.generators) != 1 or node.generators[0].ifs:
            raise Unsupported(f"{self.rel}:{node.lineno}: comprehension {ast.unparse(node)}")
        gen = node.generators[0]
        out = []
        for item in self._eval(gen.iter, env):
            inner = dict(env)
            if isinstance(gen.target, ast.Name):
                inner[gen.target.id] = item
            out.append(self._eval(node.elt, inner))
        return out

    def _call(self, node: ast.Call, env: dict) -> Any:
        fname = ast.unparse(node.func)
        if fname.startswith(("nn.", "torch.nn.")) and fname not in (
            "nn.Linear",
            "nn.Sequential",
            "nn.ModuleList",
        ):
            return Mod(fname.split(".")[-1])  # LayerNorm, GELU, Parameter, ...: no Linear inside
        args = [self._eval(a, env) for a in node.args]
        kwargs = {k.arg: self._eval(k.value, env) for k in node.keywords}
        if fname in ("int", "float", "sum", "len", "range"):
            return {"int": int, "float": float, "sum": sum, "len": len, "range": lambda *a: list(range(*a))}[
                fname
            ](*args)
        if fname == "nn.Linear":
            in_f = args[0] if args else kwargs["in_features"]
            out_f = args[1] if len(args) > 1 else kwargs["out_features"]
            return Mod("Linear", in_features=in_f, out_features=out_f)
        if fname in ("nn.Sequential", "nn.ModuleList"):
            items = args[0] if fname == "nn.ModuleList" and args else args
            return Mod(fname.split(".")[1], children={str(i): m for i, m in enumerate(items)})
        if top_class(self.tree, fname) is not None:
            return self.build(fname, args, kwargs)
        raise Unsupported(f"{self.rel}:{node.lineno}: call {fname}()")


def flux_dev_params(src: Source) -> dict:
    """configs["dev"].params of library/flux_models.py, as literal keyword values."""
    tree = src.tree("library/flux_models.py")
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "configs"
        ):
            for k, v in zip(node.value.keys, node.value.values, strict=False):
                if ast.literal_eval(k) == "dev":
                    params = next(kw.value for kw in v.keywords if kw.arg == "params")
                    return {kw.arg: ast.literal_eval(kw.value) for kw in params.keywords}
    raise Unsupported("library/flux_models.py: configs['dev'] not found")


def lora_network_attrs(src: Source) -> dict[str, Any]:
    cls = top_class(src.tree("networks/lora_flux.py"), "LoRANetwork")
    out = {}
    for node in cls.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


def extract_lora_modules(src: Source) -> dict:
    params = flux_dev_params(src)
    flux = ModelBuilder(src, "library/flux_models.py").build("Flux", [params], {})
    attrs = lora_network_attrs(src)
    # train_blocks defaults to "all": double + single targets (lora_flux.py LoRANetwork.__init__)
    targets = attrs["FLUX_TARGET_REPLACE_MODULE_DOUBLE"] + attrs["FLUX_TARGET_REPLACE_MODULE_SINGLE"]
    prefix = attrs["LORA_PREFIX_FLUX"]
    modules: dict[str, dict] = {}
    for name, module in flux.named_modules():
        if module.cls in targets:
            for child_name, child in module.named_modules():
                if child.cls == "Linear":  # Conv2d does not occur inside these blocks
                    lora_name = (prefix + "." + (name + "." if name else "") + child_name).replace(".", "_")
                    modules[lora_name] = {
                        "in_features": child.in_features,
                        "out_features": child.out_features,
                    }
    return {
        "network_module": "networks.lora_flux",
        "model": 'library/flux_models.Flux(configs["dev"].params), train_blocks="all", no split_qkv',
        "tensors_per_module": {
            "<module>.lora_down.weight": "[rank, in_features]",
            "<module>.lora_up.weight": "[out_features, rank]",
            "<module>.alpha": "scalar []",
        },
        "modules": modules,
    }


# ------------------------------------------------------------------------------------------------
# requirements pins
# ------------------------------------------------------------------------------------------------
def extract_requirements(src: Source) -> dict[str, str]:
    pins = {}
    for line in src.text("requirements.txt").splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*([=<>!~].*)?", line)
        if m and not line.startswith("-"):
            pins[m.group(1).lower()] = (m.group(3) or "").strip()
    return pins


# ------------------------------------------------------------------------------------------------
def extract_image_extensions(src: Source) -> list[str]:
    """Every suffix library/train_util.py's image list may take: IMAGE_EXTENSIONS and each top-level
    ``IMAGE_EXTENSIONS.extend([...])`` (those run when an optional Pillow plugin imports)."""
    tree = src.tree("library/train_util.py")
    found = list(module_constants(tree)["IMAGE_EXTENSIONS"])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "extend"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "IMAGE_EXTENSIONS"
        ):
            found += [s for s in ast.literal_eval(node.args[0]) if s not in found]
    return found


def extract(root: Path) -> dict:
    src = Source(root)
    return {
        "format": FORMAT,
        "sd_scripts_commit": src.commit(),
        "generated_by": "tools/kohya_facts.py (make facts): parsed with ast, nothing imported",
        "flux_train_network_flags": extract_flags(src),
        "dataset_config": extract_dataset_schema(src),
        "lora_flux": extract_lora_modules(src),
        "requirements": extract_requirements(src),
        "image_extensions": extract_image_extensions(src),
    }


def dumps(facts: dict) -> str:
    return json.dumps(facts, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sd-scripts", type=Path, default=Path("vendor/sd-scripts"), help="checked-out sd-scripts tree"
    )
    ap.add_argument("--out", type=Path, default=Path("tests/fixtures/sd_scripts_facts.json"))
    ap.add_argument("--check", action="store_true", help="exit 1 if --out differs from a fresh extraction")
    a = ap.parse_args(argv)
    if not (a.sd_scripts / "flux_train_network.py").is_file():
        print(
            f"{a.sd_scripts}: sd-scripts is not checked out (git submodule update --init vendor/sd-scripts)",
            file=sys.stderr,
        )
        return 2
    try:
        text = dumps(extract(a.sd_scripts))
    except Unsupported as e:
        print(f"sd-scripts changed in a way the extractor does not model: {e}", file=sys.stderr)
        return 2
    if a.check:
        same = a.out.is_file() and a.out.read_text(encoding="utf-8") == text
        print(f"{a.out}: {'matches' if same else 'DIFFERS FROM'} {a.sd_scripts}")
        return 0 if same else 1
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=a.out.parent, prefix=".facts-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a committed fixture is world-readable
    os.replace(tmp, a.out)
    facts = json.loads(text)
    print(
        f"{a.out}: {len(facts['flux_train_network_flags'])} flags, "
        f"{len(facts['lora_flux']['modules'])} LoRA modules, commit {facts['sd_scripts_commit'][:12]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
