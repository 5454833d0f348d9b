"""The rehearsal's `publish --dry-run` phase judges the card by huggingface_hub and by its own count."""

from __future__ import annotations

import json

import pytest

from ascii_lora.rehearse.interop_diffusers import InteropError
from ascii_lora.rehearse.interop_publish import _metadata_problems, publish_dry_run

from .publish_helpers import experiment, verified_run


@pytest.fixture
def run(tmp_path):
    cfg = experiment(tmp_path)
    return cfg, verified_run(tmp_path, cfg)["run"]


def test_a_verified_run_passes_and_the_line_carries_the_counts_of_the_pictures(run, tmp_path):
    """Oracle: publish_helpers draws 16 pictures per checkpoint; step 4 passes 8 of them, the base none."""
    cfg, run_dir = run
    line = publish_dry_run(cfg, run_dir, tmp_path / "card")
    assert "base 0/16" in line and "step00000004.safetensors 8/16" in line
    assert (tmp_path / "card" / "README.md").is_file()


def test_a_card_that_quotes_other_numbers_than_the_pictures_fails(run, tmp_path):
    """The checkpoint summary says 8/16 and the card quotes it; the pictures now say one more passed."""
    cfg, run_dir = run
    scores = run_dir / "verify" / "scores.json"
    data = json.loads(scores.read_text())
    step = next(r["checkpoint"] for r in data["checkpoints"] if not r.get("baseline"))
    failing = next(i for i in data["images"] if i["checkpoint"] == step and not i.get("passed"))
    failing["passed"] = True
    scores.write_text(json.dumps(data))
    with pytest.raises(InteropError, match=r"does not quote .*9/16"):
        publish_dry_run(cfg, run_dir, tmp_path / "card")


GOOD = {
    "base_model": "black-forest-labs/FLUX.1-dev",
    "base_model_relation": "adapter",
    "license": "other",
    "tags": ["flux", "lora", "text-to-image", "diffusers", "template:sd-lora", "ascii-lora"],
    "instance_prompt": "ascii_structure_style",
    "widget": [{"text": "a map", "output": {"url": "images/a.png"}}],
}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"base_model": "black-forest-labs/FLUX.1-schnell"}, "base_model"),
        ({"base_model_relation": "finetune"}, "base_model_relation"),
        ({"license": "mit"}, "license"),
        ({"tags": ["flux", "lora"]}, "tags lack"),
        ({"instance_prompt": "a map"}, "trigger word"),
        ({"widget": []}, "no widget"),
        ({"widget": [{"text": "x", "output": {"url": "images/gone.png"}}]}, "not in the folder"),
    ],
)
def test_each_wrong_metadata_field_is_named(tmp_path, change, words):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"png")
    assert _metadata_problems(GOOD, tmp_path, "ascii_structure_style") == []
    problems = _metadata_problems({**GOOD, **change}, tmp_path, "ascii_structure_style")
    assert len(problems) == 1 and words in problems[0]
