"""TOML experiment files -> ExperimentConfig, with one-line errors that name file, table and key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .models import ExperimentConfig
from ..errors import UserError

DEFAULT_CONFIG = Path("configs/flux_ascii.toml")


class _TomlBool(int):
    """Shows a bad boolean the way the user typed it in TOML."""

    def __repr__(self) -> str:
        return "true" if self else "false"


def _is_table(path: list[str]) -> bool:
    """Does ``path`` name a table (a nested model) rather than a key?"""
    model: Any = ExperimentConfig
    for part in path:
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return False
        model = fields[part].annotation
    return isinstance(model, type) and issubclass(model, BaseModel)


def _location(loc: tuple[Any, ...]) -> str:
    """pydantic loc -> ``[table] key`` (or ``[table]`` for a rule spanning several keys)."""
    parts = [str(p) for p in loc if not isinstance(p, int)]
    indices = [p for p in loc if isinstance(p, int)]
    if not parts:
        return ""
    if _is_table(parts):
        return f"[{'.'.join(parts)}]"
    table, key = parts[:-1], parts[-1]
    where = f"[{'.'.join(table)}] {key}" if table else key
    return where + (f"[{indices[-1]}]" if indices else "")


def format_validation_error(source: str, err: ValidationError) -> str:
    """First problem of a pydantic error as ``file: [table] key: message (got value)``."""
    lines = []
    for e in err.errors():
        msg = e["msg"].removeprefix("Value error, ")
        where = _location(e["loc"])
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not a setting; check the spelling)"
        got = e.get("input")
        if isinstance(got, bool):
            got = _TomlBool(got)
        got_s = "" if e["type"] in ("extra_forbidden", "missing") or isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{source}: {where}: {msg}{got_s}" if where else f"{source}: {msg}{got_s}")
    return lines[0] if len(lines) == 1 else lines[0] + f" (+{len(lines) - 1} more: " + "; ".join(lines[1:]) + ")"


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise UserError(f"{path}: config file not found (pass --config FILE or CONFIG=...)") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, expected a .toml file") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Read ``path`` (default ``configs/flux_ascii.toml`` when it exists), apply CLI overrides, validate."""
    if path is None:
        path = DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None
    data = read_toml(Path(path)) if path is not None else {}
    source = str(path) if path is not None else "built-in defaults"
    if overrides:
        data = deep_merge(data, overrides)
    try:
        cfg = ExperimentConfig.model_validate(data)
    except ValidationError as e:
        raise UserError(format_validation_error(source, e)) from None
    return cfg
