"""Extract the options SimpleTuner accepts, from the installed package, into a committed fixture.

Run it with the Python of an environment where the pinned SimpleTuner is installed (it imports
SimpleTuner's own argument parser; CI never has that environment, so the tests read the JSON
this writes):

    .venv-simpletuner/bin/python tools/simpletuner_facts.py tests/fixtures/simpletuner_facts.json

Why two methods: the argparse parser is the ground truth for config.json keys and the choices
that this machine offers, but some choices are added only when torch sees CUDA (the fp8 base
precisions) or when bitsandbytes imports (the 8-bit optimizers). Those are read from the source
with ``ast`` so that the fixture holds what a CUDA pod accepts, not only what the CPU box that
ran the tool accepts. The multidatabackend.json keys have no schema at all in SimpleTuner: they
are the string keys its data-backend code reads from each entry, also found with ``ast``.
Nothing here copies SimpleTuner code: only names, choices, defaults and file-name templates,
each with the source file and line it came from.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import json
import os
import sys
from pathlib import Path

PACKAGES = (
    "simpletuner",
    "diffusers",
    "torchao",
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "bitsandbytes",
)


def _jsonable(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return repr(v)


def _type_name(t) -> str:
    if t is None:
        return "str"
    name = getattr(t, "__name__", str(t))
    return {"_parse_bool_flag": "bool"}.get(name, name)


def parser_options() -> list[dict]:
    """Every config.json key as SimpleTuner's own argparse parser declares it."""
    os.environ.setdefault("SIMPLETUNER_LOG_LEVEL", "ERROR")
    from simpletuner.helpers.configuration import cmd_args

    parser = cmd_args.get_argument_parser()
    out = []
    for a in parser._actions:
        if not a.option_strings or a.dest == "help":
            continue
        out.append(
            {
                "options": list(a.option_strings),
                "dest": a.dest,
                "type": _type_name(a.type),
                "choices": None if a.choices is None else [str(c) for c in a.choices],
                "default": _jsonable(a.default),
                "required": bool(a.required),
            }
        )
    return sorted(out, key=lambda f: f["dest"])


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root.parent))


def _literal_strings(node) -> list[str]:
    return [
        e.value for e in getattr(node, "elts", []) if isinstance(e, ast.Constant) and isinstance(e.value, str)
    ]


def cuda_only_precisions(root: Path) -> dict:
    """quantised_precision_levels: the base list, and what the `if torch.cuda.is_available()` branch adds."""
    path = root / "helpers" / "training" / "__init__.py"
    tree = ast.parse(path.read_text())
    base: list[str] = []
    cuda: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == "quantised_precision_levels" for t in node.targets
        ):
            base = _literal_strings(node.value)
        if isinstance(node, ast.If) and "cuda.is_available" in ast.unparse(node.test):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call) and ast.unparse(sub.func).startswith(
                    "quantised_precision_levels."
                ):
                    for arg in sub.args:
                        if isinstance(arg, ast.Constant):
                            cuda.append(arg.value)
                        else:
                            cuda += _literal_strings(arg)
    return {"source": _rel(path, root), "base": base, "cuda_only": cuda}


def optimizers(root: Path) -> dict:
    """Optimizer names: those always registered and those registered only when bitsandbytes imports."""
    path = root / "helpers" / "training" / "optimizer_param.py"
    tree = ast.parse(path.read_text())
    always: dict[str, dict] = {}
    bnb: dict[str, dict] = {}
    deprecated: list[str] = []

    def entries(d: ast.Dict) -> dict[str, dict]:
        out = {}
        for k, v in zip(d.keys, d.values, strict=False):
            if not (isinstance(k, ast.Constant) and isinstance(v, ast.Dict)):
                continue
            settings = {}
            for k2, v2 in zip(v.keys, v.values, strict=False):
                if (
                    isinstance(k2, ast.Constant)
                    and k2.value == "default_settings"
                    and isinstance(v2, ast.Dict)
                ):
                    for k3, v3 in zip(v2.keys, v2.values, strict=False):
                        try:
                            settings[k3.value] = _jsonable(ast.literal_eval(v3))
                        except ValueError:
                            settings[k3.value] = ast.unparse(v3)
            out[k.value] = {"default_settings": settings, "line": k.lineno}
        return out

    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            name = getattr(node.targets[0], "id", "")
            if name == "optimizer_choices":
                always = entries(node.value)
            elif name == "deprecated_optimizers":
                deprecated = [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
        if isinstance(node, ast.If) and ast.unparse(node.test).startswith("is_bitsandbytes_available"):
            for sub in ast.walk(node):
                if (
                    isinstance(sub, ast.Dict)
                    and sub.keys
                    and all(isinstance(k, ast.Constant) for k in sub.keys)
                ):
                    found = entries(sub)
                    if any(k.startswith("bnb-") for k in found):
                        bnb.update(found)
    return {"source": _rel(path, root), "always": always, "needs_bitsandbytes": bnb, "deprecated": deprecated}


def flux_model(root: Path) -> dict:
    path = root / "helpers" / "models" / "flux" / "model.py"
    tree = ast.parse(path.read_text())
    out: dict = {"source": _rel(path, root)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Flux":
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                    name = getattr(stmt.targets[0], "id", "")
                    if name in ("DEFAULT_MODEL_FLAVOUR", "HUGGINGFACE_PATHS", "MODEL_SUBFOLDER"):
                        out[name] = ast.literal_eval(stmt.value)
    return out


BACKEND_DICT_NAMES = {"backend", "backend_dict", "init_backend"}
BACKEND_FILES = (
    "helpers/data_backend/factory.py",
    "helpers/data_backend/config/base.py",
    "helpers/data_backend/config/image.py",
    "helpers/data_backend/config/text_embed.py",
    "helpers/data_backend/builders/base.py",
    "helpers/data_backend/builders/local.py",
)


def backend_keys(root: Path) -> dict:
    """String keys SimpleTuner reads from a multidatabackend.json entry (``backend.get("k")``, ``backend["k"]``, ``"k" in backend``)."""
    keys: dict[str, str] = {}
    for rel in BACKEND_FILES:
        path = root / rel
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            key = None
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
            ):
                if (
                    getattr(node.func.value, "id", None) in BACKEND_DICT_NAMES
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    key = node.args[0].value
            elif isinstance(node, ast.Subscript) and getattr(node.value, "id", None) in BACKEND_DICT_NAMES:
                if isinstance(node.slice, ast.Constant):
                    key = node.slice.value
            elif (
                isinstance(node, ast.Compare)
                and isinstance(node.left, ast.Constant)
                and any(isinstance(o, ast.In) for o in node.ops)
            ):
                if any(getattr(c, "id", None) in BACKEND_DICT_NAMES for c in node.comparators):
                    key = node.left.value
            if isinstance(key, str):
                keys.setdefault(key, f"{_rel(path, root)}:{node.lineno}")
        # TextEmbedBackendConfig copies these keys through verbatim
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and getattr(node.targets[0], "id", "") == "passthrough_keys"
                and isinstance(node.value, ast.Set)
            ):
                for e in node.value.elts:
                    keys.setdefault(e.value, f"{_rel(path, root)}:{e.lineno}")
    return dict(sorted(keys.items()))


def backend_choices(root: Path) -> dict:
    """Choice lists the backend validators and the caption reader accept."""
    out: dict = {}
    path = root / "helpers" / "data_backend" / "config" / "validators.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Assign)
            and getattr(node.targets[0], "id", "").startswith("valid_")
            and isinstance(node.value, ast.List)
        ):
            out[node.targets[0].id] = {
                "values": _literal_strings(node.value),
                "source": f"{_rel(path, root)}:{node.lineno}",
            }
    path = root / "helpers" / "prompts.py"
    strategies: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare) and getattr(node.left, "id", None) == "caption_strategy":
            for c in node.comparators:
                if isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value not in strategies:
                    strategies.append(c.value)
    out["caption_strategy"] = {"values": strategies, "source": _rel(path, root)}
    path = root / "helpers" / "data_backend" / "dataset_types.py"
    types = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef) and node.name == "DatasetType":
            types = [
                s.value.value
                for s in node.body
                if isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant)
            ]
    out["dataset_type"] = {"values": types, "source": _rel(path, root)}
    return out


def _fstring_template(node: ast.JoinedStr) -> str:
    parts = []
    for v in node.values:
        if isinstance(v, ast.Constant):
            parts.append(v.value)
        else:
            parts.append("{" + ast.unparse(v.value) + "}")
    return "".join(parts)


def _find_fstring(path: Path, root: Path, function: str, startswith: str) -> dict:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function:
            for sub in ast.walk(node):
                if isinstance(sub, ast.JoinedStr):
                    t = _fstring_template(sub)
                    if t.startswith(startswith):
                        return {
                            "template": t,
                            "source": f"{_rel(path, root)}:{sub.lineno}",
                            "function": function,
                        }
    raise SystemExit(
        f"{path}: no f-string starting {startswith!r} in {function}(); SimpleTuner changed, re-read it"
    )


def output_layout(root: Path) -> dict:
    """Where SimpleTuner writes validation images and checkpoints (the checker reads these)."""
    validation = root / "helpers" / "training" / "validation.py"
    save_dir = None
    for node in ast.walk(ast.parse(validation.read_text())):
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "self.save_dir":
            save_dir = {"expr": ast.unparse(node.value), "source": f"{_rel(validation, root)}:{node.lineno}"}
    from diffusers.loaders.lora_base import LORA_WEIGHT_NAME_SAFE

    return {
        "validation_dir": save_dir,
        "validation_image": _find_fstring(
            root / "helpers" / "training" / "validation_images.py", root, "save_images", "step_"
        ),
        "checkpoint_dir": _find_fstring(
            root / "helpers" / "training" / "trainer.py", root, "checkpoint_state_save", "checkpoint-"
        ),
        "lora_weights_file": {
            "name": LORA_WEIGHT_NAME_SAFE,
            "source": "diffusers.loaders.lora_base.LORA_WEIGHT_NAME_SAFE",
        },
    }


def versions() -> dict:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = None
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="fixture JSON to write")
    args = ap.parse_args()
    import simpletuner

    root = Path(simpletuner.__file__).resolve().parent
    facts = {
        "provenance": {
            "tool": "tools/simpletuner_facts.py",
            "versions": versions(),
            "python": sys.version.split()[0],
            "torch_cuda": False,
            "note": "parser options from simpletuner.helpers.configuration.cmd_args.get_argument_parser() on a CPU box; "
            "CUDA-only and bitsandbytes-only choices read from the source with ast",
        },
        "parser_options": parser_options(),
        "base_model_precision": cuda_only_precisions(root),
        "optimizers": optimizers(root),
        "flux": flux_model(root),
        "backend_keys": backend_keys(root),
        "backend_choices": backend_choices(root),
        "output_layout": output_layout(root),
    }
    import torch

    facts["provenance"]["torch_cuda"] = bool(torch.cuda.is_available())
    text = json.dumps(facts, indent=1, sort_keys=False) + "\n"
    tmp = args.out.with_name(args.out.name + ".tmp")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(text)
    os.replace(tmp, args.out)
    print(
        f"wrote {args.out}: {len(facts['parser_options'])} options, {len(facts['backend_keys'])} backend keys, "
        f"simpletuner {facts['provenance']['versions']['simpletuner']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
