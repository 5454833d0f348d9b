"""The validation loss beside each step's pass rate in check's report and chart."""

from __future__ import annotations

import numpy as np

from ascii_lora.check.ranking import rank
from ascii_lora.check.report import chart, report_markdown

from .test_check_runs import NAME, report


def scores():
    return rank(
        [
            report(f"{NAME}_e000000_00_20261126094105_1234", False),
            report(f"{NAME}_000002_00_20261126094420_1234", False),
            report(f"{NAME}_000004_00_20261126095000_1234", True),
        ]
    )


def table_rows(md: str) -> list[list[str]]:
    rows = [line for line in md.splitlines() if line.startswith("| step")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows]


def test_each_checked_step_shows_its_validation_loss_and_a_dash_where_none_was_measured():
    md = report_markdown(scores(), [], {2: 0.51234, 4: 0.4})
    header = next(line for line in md.splitlines() if line.startswith("| checkpoint"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells[:5] == ["checkpoint", "images", "pass rate", "validation loss", "content"]
    assert [(r[0], r[2], r[3]) for r in table_rows(md)] == [
        ("step 0 (base model)", "0%", "-"),
        ("step 2", "0%", "0.5123"),
        ("step 4 **best**", "100%", "0.4000"),
    ]
    rule = next(line for line in md.splitlines() if line.startswith("|---"))
    assert rule.count("|") == header.count("|")


def test_without_losses_the_table_is_as_before():
    md = report_markdown(scores(), [])
    assert "validation loss" not in md
    assert [r[3] for r in table_rows(md)] == ["0%", "0%", "100%"]  # the content column follows the pass rate


def test_the_chart_draws_the_loss_in_black_only_when_there_is_one():
    plain = np.asarray(chart(scores()))
    with_loss = np.asarray(chart(scores(), losses={2: 0.5, 4: 0.25}))
    black = lambda img: int(((img == 0).all(axis=2)).sum())  # noqa: E731
    assert black(with_loss) > black(plain)
    # plot area x 60..880, y 30..370, steps 0..4 spread over x 70..870: the larger loss (step 2) is at
    # the top (y 30), the loss of half of it (step 4) half-way down (y 200)
    for y, x in ((33, 470), (200, 870)):
        assert (with_loss[y, x] == 0).all() and not (plain[y, x] == 0).all()


def test_check_of_a_run_reads_its_validation_loss_file(tmp_path, monkeypatch):
    import json

    from PIL import Image

    from ascii_lora.cli import main
    from ascii_lora.validation_loss import VALIDATION_FILE, losses_json

    from .test_check import picture

    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    (run / "sample").mkdir(parents=True)
    img = picture("maze")[0]
    Image.fromarray(img).convert("RGB").save(run / "sample" / f"{NAME}_000002_00_20261126094420_1234.png")
    (run / VALIDATION_FILE).write_text(losses_json({2: 0.25}, []))
    assert main(["check", "--run-dir", str(run)]) == 0
    assert json.loads((run / "check" / "report.json").read_text())["validation_loss"] == {"2": 0.25}
    assert [r[3] for r in table_rows((run / "check" / "report.md").read_text())] == ["0.2500"]
