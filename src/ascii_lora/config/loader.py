"""TOML experiment files -> ExperimentConfig, with one-line errors that name file, table and key."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import UserError
from ..fsutil import parse_error_words, read_regular
from .models import ExperimentConfig

DEFAULT_CONFIG = Path("configs/flux_ascii.toml")


class _TomlBool(int):
    """Shows a bad boolean the way the user typed it in TOML."""

    def __repr__(self) -> str:
        return "true" if self else "false"


def _location(loc: tuple[Any, ...], root: type[BaseModel] = ExperimentConfig) -> str:
    """pydantic loc -> ``[table] key`` (or ``[table]`` for a rule spanning several keys).

    Walks the models so that pydantic's union tags (``int``, ``list[int]``) never read as keys.
    """
    model: Any = root
    names: list[str] = []
    index = None
    for part in loc:
        if isinstance(part, int):
            index = part
            continue
        fields = getattr(model, "model_fields", None)
        if fields is None:  # below a plain value: a union tag such as 'int' or 'list[int]', never a key
            continue
        names.append(part)
        if part not in fields:  # an unknown key of this table
            model = None
            break
        model = fields[part].annotation
    if not names:
        return ""
    if isinstance(model, type) and issubclass(model, BaseModel):
        return f"[{'.'.join(names)}]"
    table, key = names[:-1], names[-1]
    where = f"[{'.'.join(table)}] {key}" if table else key
    return where + (f"[{index}]" if index is not None else "")


def format_validation_error(
    source: str,
    err: ValidationError,
    flags: dict[tuple[str, ...], str] | None = None,
    root: type[BaseModel] = ExperimentConfig,
) -> str:
    """First problem of a pydantic error as ``file: [table] key: message (got value)``.

    ``flags`` maps a config key to the command-line flag that set it: a bad ``--count`` is blamed on
    the command line, not on a file that never held it.
    """
    lines = []
    for e in err.errors():
        msg = e["msg"].removeprefix("Value error, ")
        where = _location(e["loc"], root)
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not a setting; check the spelling)"
        got = e.get("input")
        if isinstance(got, bool):
            got = _TomlBool(got)
        # an unknown key's value is no clue; a missing key's "input" is its table (a dict), like a table-wide rule's
        got_s = "" if e["type"] == "extra_forbidden" or isinstance(got, dict) else f" (got {got!r})"
        flag = next((f for k, f in (flags or {}).items() if tuple(e["loc"][: len(k)]) == k), None)
        if flag:
            lines.append(f"command line {flag} {got!s}: {msg} ({where})")
        elif msg.startswith("["):  # the rule names the key itself (a bound that spans tables)
            lines.append(f"{source}: {msg}{got_s}")
        else:
            lines.append(f"{source}: {where}: {msg}{got_s}" if where else f"{source}: {msg}{got_s}")
    return (
        lines[0] if len(lines) == 1 else lines[0] + f" (+{len(lines) - 1} more: " + "; ".join(lines[1:]) + ")"
    )


MAX_CONFIG_BYTES = 1 << 20  # an experiment file is a few KiB; /dev/zero must not fill memory


def read_toml(path: Path) -> dict[str, Any]:
    if not os.path.lexists(path):
        raise UserError(f"{path}: config file not found (pass --config FILE or CONFIG=...)")
    if os.path.isdir(path):
        raise UserError(f"{path}: is a directory, expected a .toml file")
    raw = (
        b"" if os.path.realpath(path) == os.devnull else read_regular(path, MAX_CONFIG_BYTES)
    )  # /dev/null: "no settings"
    if raw.startswith(b"\xef\xbb\xbf"):  # tomllib would say "Invalid statement (at line 1, column 1)"
        raise UserError(
            f"{path}: starts with a byte-order mark (BOM), which TOML does not allow; "
            "save it as UTF-8 without BOM"
        )
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    except (ValueError, RecursionError) as e:  # an int past int()'s digit limit, nesting past the stack
        raise UserError(f"{path}: not a usable config ({parse_error_words(e)})") from None


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(
    path: Path | None = None,
    overrides: dict[str, Any] | None = None,
    flags: dict[tuple[str, ...], str] | None = None,
) -> ExperimentConfig:
    """Read ``path`` (default ``configs/flux_ascii.toml`` when it exists), apply CLI overrides, validate.

    ``flags`` names the command-line flag of each override, for the error message.
    """
    if path is None:
        path = DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None
    data = read_toml(Path(path)) if path is not None else {}
    source = str(path) if path is not None else "built-in defaults"
    if overrides:
        data = deep_merge(data, overrides)
    try:
        cfg = ExperimentConfig.model_validate(data)
    except ValidationError as e:
        raise UserError(format_validation_error(source, e, flags)) from None
    return cfg
