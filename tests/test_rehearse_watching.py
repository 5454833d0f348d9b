"""The rehearsal's validation-and-webhook judges, on hand-made evidence (the rehearsal feeds them the real run's)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from ascii_lora.rehearse.watching import Receiver, dataset_counts, files_holding, judge_webhooks, tag_counts

# sd-scripts' dataset summary as rich prints it in a narrow log (seen in a run at the pin)
LOG = """
                    INFO     [Dataset 0]                      config_util.py:580
                               [Subset 0 of Dataset 0]
                                 image_dir: "/tmp/x/data"
                                 image_count: 7
                    INFO     [Validation Dataset 0]           config_util.py:580
                               [Subset 0 of Validation
                             Dataset 0]
                                 image_count: 1
"""


def test_the_trainers_dataset_summary_gives_training_and_validation_counts():
    assert dataset_counts(LOG) == (7, 1)
    assert dataset_counts(LOG.split("[Validation")[0]) == (7, None)


def test_tags_are_counted_as_sd_scripts_counts_them():
    assert tag_counts(["ascii_structure_style, Maze, white on black", "ascii_structure_style,  cave ,"]) == {
        "ascii_structure_style": 2,
        "maze": 1,
        "white on black": 1,
        "cave": 1,
    }


def text(t: str) -> dict:
    return {"text": t, "content": t}


def test_webhooks_must_be_launch_each_checkpoint_with_its_loss_then_the_end():
    good = [
        text("ascii-lora r: training launched, step 0/4."),
        text(
            "ascii-lora r: checkpoint saved at step 2/4. validation loss 0.41 at step 2; check: 0 of 4 samples pass"
        ),
        text(
            "ascii-lora r: checkpoint saved at step 4/4. validation loss 0.40 at step 4; check: 0 of 4 samples pass"
        ),
        text("ascii-lora r: training finished. summary: steps 0->4 of 4"),
    ]
    assert judge_webhooks(good, [2, 4]) == "4 webhooks received (launched, checkpoint, checkpoint, finished)"
    with pytest.raises(AssertionError, match="expected"):
        judge_webhooks(good[:2] + good[3:], [2, 4])
    with pytest.raises(AssertionError, match="not"):
        judge_webhooks([{"text": "ascii-lora r: training launched"}], [])
    no_loss = [good[0], text("ascii-lora r: checkpoint saved at step 2/4"), good[3]]
    with pytest.raises(AssertionError, match="validation loss for step 2"):
        judge_webhooks(no_loss, [2])


def test_the_receiver_records_json_and_the_secret_search_finds_every_copy(tmp_path):
    r = Receiver()
    try:
        req = urllib.request.Request(
            r.url,
            data=json.dumps(text("hi")).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=30) as resp:
            assert resp.status == 204
    finally:
        r.close()
    assert r.bodies == [text("hi")] and r.token in r.url
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "log.txt").write_text(f"posting to {r.url}\n")
    (tmp_path / "clean.json").write_text("{}")
    assert files_holding([tmp_path], r.token) == [str(tmp_path / "a" / "log.txt")]


def test_the_watch_run_validates_every_second_step_on_the_rehearsals_own_images(tmp_path):
    from ascii_lora.config.models import ExperimentConfig
    from ascii_lora.rehearse.run import REHEARSAL
    from ascii_lora.rehearse.watching import watch_config

    pre = ExperimentConfig.model_validate(
        {
            **REHEARSAL,
            "dataset": {**REHEARSAL["dataset"], "out": str(tmp_path / "data")},
            "notify": {"webhook_url": "https://example.invalid/x"},
        }
    )
    cfg = watch_config(pre, tmp_path)
    assert (cfg.dataset.out, cfg.dataset.count) == (
        pre.dataset.out,
        pre.dataset.count,
    )  # the caches are reused
    assert cfg.validation.held_out(cfg.dataset.count) == 1 and cfg.validation.every_n_steps == 2
    assert (cfg.training.max_train_steps, cfg.training.save_every_n_steps) == (4, 2)
    assert cfg.training.output_dir == str(tmp_path / "watch-run") and cfg.notify.webhook_url is None
