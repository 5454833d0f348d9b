"""Summaries built from hand-made verdicts: who may win, how unreadable pictures count."""

from __future__ import annotations

from pathlib import Path

from ascii_lora.check.score import ImageReport
from ascii_lora.verify.jobs import Checkpoint, Job
from ascii_lora.verify.report import Scored, markdown, summarise

BASE = Checkpoint("baseline", 0, None)
S500 = Checkpoint("step00000500", 500, Path("l-step00000500.safetensors"))
S900 = Checkpoint("step00000900", 900, Path("l-step00000900.safetensors"))


def verdicts(ck: Checkpoint, passed: int, n: int = 16, unreadable: int = 0) -> list[Scored]:
    out = []
    for i in range(n):
        ok = i < passed
        r = ImageReport(
            file=f"{ck.key}/{i}.png",
            passed=ok,
            criteria={"black_background": ok, "crisp": True, "grid_aligned": ok},
            cell_agreement=1.0 if ok else 0.5,
        )
        if i >= n - unreadable:
            r = ImageReport(file=f"{ck.key}/{i}.png", error="cannot identify image file")
        out.append(Scored(Job(ck, i % 4, "p", i // 4, Path(f"{ck.key}/{i}.png"), {}), r))
    return out


def test_the_base_model_never_wins_even_when_it_passes_most():
    s = summarise(verdicts(BASE, 16) + verdicts(S500, 15), [BASE, S500], ["p"] * 4, [0, 1, 2, 3])
    assert s.verdict.winner == "step00000500" and s.winner.checkpoint == S500
    assert s.baseline.passed == 16 and not s.baseline.winner
    assert s.against_baseline().startswith("not distinguishable")


def test_a_winner_below_the_base_model_is_called_worse():
    s = summarise(verdicts(BASE, 16) + verdicts(S500, 2), [BASE, S500], ["p"] * 4, [0, 1, 2, 3])
    assert s.against_baseline() == "worse than the base model"


def test_unreadable_pictures_count_as_failures_and_are_reported():
    s = summarise(verdicts(S500, 10, unreadable=3) + verdicts(S900, 2), [S500, S900], ["p"] * 4, [0, 1, 2, 3])
    r = s.results[0]
    assert (r.images, r.passed, r.unreadable) == (16, 10, 3)
    assert r.criteria["crisp"] == 13  # readable pictures only
    text = markdown(s, "256x256")
    assert "3 picture(s) could not be read and count as failures" in text


def test_a_checkpoint_that_passes_nothing_is_named_but_the_report_says_the_grid_was_not_learned():
    s = summarise(verdicts(S500, 0), [S500], ["p"] * 4, [0, 1, 2, 3])
    text = markdown(s, "256x256", stand_in=True)
    assert "**Winner: step 500** - 0/16 = 0%" in text
    assert "has not learned the grid" in text and "stand-in models" in text


def checkpoint_rows(text: str) -> list[list[str]]:
    table = text.split("## Pass rate per prompt")[0]
    rows = [line for line in table.splitlines() if line.startswith("|")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows]


def test_each_checkpoint_shows_the_runs_validation_loss_at_its_step():
    s = summarise(
        verdicts(BASE, 2) + verdicts(S500, 10) + verdicts(S900, 12),
        [BASE, S500, S900],
        ["p"] * 4,
        [0, 1, 2, 3],
    )
    s.losses = {500: 0.41234, 250: 0.5}
    head, rule, *rows = checkpoint_rows(markdown(s, "256x256"))
    assert head[4:6] == ["95% interval", "validation loss"] and len(rule) == len(head)
    assert [(r[0].split(" **")[0].split(" (")[0], r[5]) for r in rows] == [
        ("base model", "-"),
        ("step 500", "0.4123"),
        ("step 900", "-"),
    ]
    s.losses = {}
    head, _, *rows = checkpoint_rows(markdown(s, "256x256"))
    assert "validation loss" not in head and len(rows[0]) == len(head)
