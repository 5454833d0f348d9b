"""Markdown reference of every config table, generated from the models (docs/config.md embeds it).

The pydantic models are the one place defaults and descriptions live; the block in docs/config.md
is regenerated with ``python -m ascii_lora.config.reference`` and a test keeps it in sync.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from .models import ExperimentConfig

START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"


def _default(model: BaseModel, name: str) -> str:
    value = getattr(model, name)
    if isinstance(value, BaseModel):
        return ""
    text = json.dumps(value if not isinstance(value, tuple) else list(value))
    return "`" + (text if len(text) <= 60 else text[:57] + "...") + "`"


def tables(model: BaseModel, prefix: str) -> list[str]:
    lines: list[str] = []
    nested: list[tuple[str, BaseModel]] = []
    rows = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            nested.append((f"{prefix}.{name}" if prefix else name, value))
        else:
            rows.append(
                f"| `{name}` | {_default(model, name)} | {(field.description or '').replace('|', '/')} |"
            )
    if rows:
        lines += [f"### `[{prefix}]`", "", "| key | default | meaning |", "|---|---|---|", *rows, ""]
    for p, m in nested:
        lines += tables(m, p)
    return lines


def reference() -> str:
    return "\n".join([START, "", *tables(ExperimentConfig(), ""), END])


DEFAULT_PAGE = Path("docs/config.md")


def update_page(path: Path) -> bool:
    """Rewrite the generated block of ``path`` in place; True when it changed."""
    text = path.read_text()
    start, end = text.index(START), text.index(END) + len(END)
    new = text[:start] + reference() + text[end:]
    if new != text:
        path.write_text(new)
        return True
    return False


if __name__ == "__main__":
    page = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PAGE
    changed = update_page(page)
    print(f"{page} updated" if changed else f"{page} already current")
