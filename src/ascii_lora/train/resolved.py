"""The experiment as run, written into every run directory whichever trainer runs it."""

from __future__ import annotations

from typing import Any

import tomli_w

from ..config.models import ExperimentConfig


def _unset(data: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in data.items():
        if isinstance(value, dict):
            out += _unset(value, f"{prefix}{key}.")
        elif value is None:
            out.append(prefix + key)
    return out


def resolved_toml(cfg: ExperimentConfig) -> str:
    """The config as run. TOML has no null, so unset settings are named in a comment instead:
    a reader must be able to tell "left unset" from "forgotten". The webhook URL is a secret: left out."""
    secret = {"notify": {"webhook_url"}}
    data = cfg.model_dump(mode="json", exclude=secret)
    header = "# Every setting of this run, defaults filled in (written by `ascii-lora plan`).\n"
    unset = _unset(data)
    if unset:
        header += f"# Unset (None, so the documented fallback applies): {', '.join(unset)}\n"
    if cfg.notify.webhook_url is not None:
        header += "# [notify] webhook_url is set and left out here: it is a secret\n"
    return header + tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True, exclude=secret))
