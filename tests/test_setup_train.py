"""`make setup-train` checks disk before fetching, skips what is there, explains gated downloads."""

from __future__ import annotations

from pathlib import Path

import pytest

from ascii_lora.config.models import ExperimentConfig
from ascii_lora.errors import UserError
from ascii_lora.train.setup import DOWNLOADS, download_models, prefill_tokenizers

from .fakes import fake_model

GIB = 1024**3
KINDS = {"flux": "flux-dev", "ae": "ae", "clip_l": "clip_l", "t5xxl": "t5xxl"}


class FakeHub:
    def __init__(self, fail_status: int | None = None):
        self.calls: list[str] = []
        self.fail_status = fail_status

    def __call__(self, repo_id: str, filename: str, local_dir: str, token):
        self.calls.append(f"{repo_id}/{filename}")
        if self.fail_status:
            err = RuntimeError("denied")
            err.response = type("R", (), {"status_code": self.fail_status})()
            raise err
        key = next(d.key for d in DOWNLOADS if d.filename == filename)
        return str(fake_model(Path(local_dir) / filename, KINDS[key]))


def test_downloads_only_missing_files_into_model_paths(tmp_path):
    cfg = ExperimentConfig()
    fake_model(tmp_path / "models" / "clip_l.safetensors", "clip_l")
    hub = FakeHub()
    lines: list[str] = []
    n = download_models(cfg, tmp_path, lines.append, hub_download=hub, free_bytes=lambda p: 100 * GIB)
    assert n == 3 and "comfyanonymous/flux_text_encoders/clip_l.safetensors" not in hub.calls
    assert any("clip_l: present, skipped" in line for line in lines)
    for key in KINDS:
        assert (tmp_path / getattr(cfg.model, key)).exists()
    again = FakeHub()
    assert download_models(cfg, tmp_path, lines.append, hub_download=again, free_bytes=lambda p: 0) == 0
    assert again.calls == []  # re-running is free and needs no disk


@pytest.mark.parametrize("status", [401, 403])
def test_gated_flux_download_explains_the_licence(tmp_path, status):
    with pytest.raises(UserError) as e:
        download_models(
            ExperimentConfig(),
            tmp_path,
            lambda s: None,
            hub_download=FakeHub(status),
            free_bytes=lambda p: 100 * GIB,
        )
    msg = str(e.value)
    assert "gated" in msg and "accept the licence" in msg and "HF_TOKEN" in msg and "\n" not in msg


def test_denied_public_file_is_not_blamed_on_the_flux_licence():
    from types import SimpleNamespace

    from ascii_lora.train.setup import DOWNLOADS, explain_download_error

    denied = RuntimeError("403")
    denied.response = SimpleNamespace(status_code=403)
    public = next(d for d in DOWNLOADS if d.key == "clip_l")
    msg = explain_download_error(public, denied)
    assert "access denied (403)" in msg and "HF_TOKEN" in msg and "gated" not in msg and "licence" not in msg


def test_disk_is_checked_before_any_download(tmp_path):
    hub = FakeHub()
    with pytest.raises(UserError, match="GiB free"):
        download_models(
            ExperimentConfig(), tmp_path, lambda s: None, hub_download=hub, free_bytes=lambda p: 5 * GIB
        )
    assert hub.calls == []


def test_tokenizer_cache_present_is_skipped(tmp_path):
    for d in ("openai_clip-vit-large-patch14", "google_t5-v1_1-xxl"):
        (tmp_path / d).mkdir()
    lines: list[str] = []
    prefill_tokenizers(tmp_path, lines.append)
    assert "skipped" in lines[0]
