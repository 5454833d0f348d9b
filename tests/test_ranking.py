"""Checkpoints are ranked by their samples; the base model's step-0 samples are a baseline only."""

from __future__ import annotations

from ascii_lora.check.ranking import checkpoint_file, label, parse_sample_name, rank
from ascii_lora.check.score import ImageReport


def report(
    stem: str, passed: bool, grid: float | None = 0.5, grey: float = 0.01, folder: str = "run/sample"
) -> ImageReport:
    """A sample that draws something; ``grid`` is its geometry score, ``grey`` its edge grey share."""
    crit = {"content": True, "black_background": passed, "crisp": passed, "grid_aligned": passed}
    return ImageReport(
        file=f"{folder}/{stem}.png",
        passed=passed,
        criteria=crit,
        edge_grey=grey,
        grid_score=grid,
        cell_agreement=grid,
    )


def test_sd_scripts_sample_names_give_name_kind_and_number():
    assert parse_sample_name("flux_v1_000500_00_20261125120000") == ("flux_v1", "step", 500)
    assert parse_sample_name("flux_v1_e000003_01_20261125120000_1234") == ("flux_v1", "epoch", 3)
    assert parse_sample_name("flux_v1_e123456_00_20261125120000") == ("flux_v1", "epoch", 123456)
    assert parse_sample_name("holiday") is None
    assert parse_sample_name("flux_v1_00500_00_20261125120000") is None  # 5 digits: not sd-scripts'


def test_step_0_is_never_best_even_when_it_scores_highest():
    reports = [
        report("m_000000_00_20261125120000", True, 1.0),
        report("m_000500_00_20261125120000", False, 0.2),
    ]
    scores = {s.number: s for s in rank(reports)}
    assert scores[0].pass_rate == 1.0 and not scores[0].best
    assert scores[500].best


def test_best_is_highest_pass_rate_then_grid_score_then_least_edge_grey_then_latest():
    reports = [
        report("m_000100_00_20261125120000", True),
        report("m_000100_01_20261125120000", False),
        report("m_000200_00_20261125120000", True, 0.6),
        report("m_000200_01_20261125120000", False, 0.6),
        report("m_000300_00_20261125120000", True, 0.6, 0.001),
        report("m_000300_01_20261125120000", False, 0.6, 0.001),
        report("m_000400_00_20261125120000", True, 0.6, 0.001),
        report("m_000400_01_20261125120000", False, 0.6, 0.001),
        report("m_000500_00_20261125120000", False, 0.99),
    ]
    scores = rank(reports)
    assert [s.number for s in scores] == [100, 200, 300, 400, 500]
    assert [s.best for s in scores] == [False, False, False, True, False]
    s = scores[0]
    assert (s.images, s.passed, s.pass_rate, s.aligned_rate, s.black_rate) == (2, 1, 0.5, 0.5, 0.5)
    assert s.mean_grid_score == 0.5 and s.mean_edge_grey == 0.01 and s.content_rate == 1.0


def test_checkpoint_file_is_found_beside_the_sample_folder(tmp_path):
    (tmp_path / "sample").mkdir()
    (tmp_path / "m-step00000500.safetensors").write_bytes(b"x")
    (tmp_path / "m.safetensors").write_bytes(b"x")
    (tmp_path / "m-000002.safetensors").write_bytes(b"x")
    sample = tmp_path / "sample"
    assert checkpoint_file(sample, "m", "step", 500, last=False) == str(
        tmp_path / "m-step00000500.safetensors"
    )
    assert checkpoint_file(sample, "m", "step", 900, last=True) == str(
        tmp_path / "m.safetensors"
    )  # the final save
    assert checkpoint_file(sample, "m", "step", 900, last=False) is None
    assert checkpoint_file(sample, "m", "epoch", 2, last=False) == str(tmp_path / "m-000002.safetensors")
    assert checkpoint_file(tmp_path, "m", "step", 500, last=False) == str(
        tmp_path / "m-step00000500.safetensors"
    )


def test_unreadable_samples_are_skipped_not_the_end_of_the_list():
    reports = [
        ImageReport(file="run/sample/m_000100_00_20261125120000.png", error="bad"),
        report("m_000200_00_20261125120000", True),
    ]
    assert [s.number for s in rank(reports)] == [200]


def test_the_final_save_belongs_to_the_last_step_sampled(tmp_path):
    (tmp_path / "sample").mkdir()
    (tmp_path / "m.safetensors").write_bytes(b"x")
    (tmp_path / "m-step00000500.safetensors").write_bytes(b"x")
    folder = str(tmp_path / "sample")
    scores = rank(
        [report(f"m_{step:06d}_00_20261125120000", True, folder=folder) for step in (250, 500, 1000)]
    )
    assert [(s.number, s.checkpoint_file) for s in scores] == [
        (250, None),  # no file for that step, and not the last one
        (500, str(tmp_path / "m-step00000500.safetensors")),
        (1000, str(tmp_path / "m.safetensors")),
    ]


def test_epoch_only_runs_rank_and_order_is_name_then_steps_before_epochs():
    epochs = rank([report("m_e000002_00_20261125120000", True), report("m_e000001_00_20261125120000", False)])
    assert [(s.kind, s.number, s.best, s.checkpoint_file) for s in epochs] == [
        ("epoch", 1, False, None),
        ("epoch", 2, True, None),
    ]
    mixed = rank(
        [
            report("b_000100_00_20261125120000", True),
            report("a_e000001_00_20261125120000", True),
            report("a_000300_00_20261125120000", True),
            report("a_000200_00_20261125120000", True),
        ]
    )
    assert [(s.name, s.kind, s.number) for s in mixed] == [
        ("a", "step", 200),
        ("a", "step", 300),
        ("a", "epoch", 1),
        ("b", "step", 100),
    ]


def test_labels_name_the_kind_of_checkpoint():
    step, epoch = rank(
        [report("m_000300_00_20261125120000", True), report("m_e000004_00_20261125120000", True)]
    )
    assert (label(step), label(epoch)) == ("step 300", "epoch 4")


def test_rates_are_rounded_to_four_places_and_means_to_six():
    reports = [
        report("m_000001_00_20261125120000", True, 0.1234561, 0.1111111),
        report("m_000001_01_20261125120000", False, 0.1234561, 0.1111111),
        report("m_000001_02_20261125120000", False, None, 0.1111111),  # no grid score: counts as 0
        report("m_000000_00_20261125120000", True, 1.0, 0.0),  # a perfect baseline is still no "best"
    ]
    base, first = rank(reports)
    assert (first.pass_rate, first.aligned_rate, first.black_rate) == (0.3333, 0.3333, 0.3333)
    assert first.mean_grid_score == 0.082304 and first.mean_edge_grey == 0.111111
    assert first.best and not base.best


def test_simpletuner_checkpoints_are_found_from_its_validation_folder_or_beside_the_images(tmp_path):
    run = tmp_path / "run"
    (run / "validation_images").mkdir(parents=True)
    (run / "checkpoint-500").mkdir()
    (run / "checkpoint-500" / "pytorch_lora_weights.safetensors").write_bytes(b"x")
    (run / "pytorch_lora_weights.safetensors").write_bytes(b"x")
    images = run / "validation_images"
    assert checkpoint_file(images, "simpletuner", "step", 500, last=False) == str(
        run / "checkpoint-500" / "pytorch_lora_weights.safetensors"
    )
    assert (
        checkpoint_file(images, "simpletuner", "step", 900, last=False) is None
    )  # the final save is not step 900's
    assert checkpoint_file(images, "simpletuner", "step", 900, last=True) == str(
        run / "pytorch_lora_weights.safetensors"
    )
    assert (
        checkpoint_file(run / "checkpoint-500", "simpletuner", "step", 500, last=False) is None
    )  # another folder: looked up in place
