"""Pass-rate intervals and the winner rule of `ascii-lora verify`.

Expected intervals are published values (Newcombe 1998, "Two-sided confidence intervals for the
single proportion", Statistics in Medicine 17:857, Table II, method 3: Wilson score without
continuity correction) or worked by hand below; none is computed with the code under test.
"""

from __future__ import annotations

import pytest

from ascii_lora.verify.stats import Candidate, Interval, choose_winner, wilson


@pytest.mark.parametrize(
    "k,n,low,high",
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombes_published_table(k, n, low, high):
    iv = wilson(k, n)
    assert iv.low == pytest.approx(low, abs=6e-5)
    assert iv.high == pytest.approx(high, abs=6e-5)


def test_all_passed_and_none_passed_reach_the_bound_exactly_and_keep_width():
    # 32 of 32: the normal interval would be [1, 1]; Wilson's lower bound is n / (n + z^2) = 32 / 35.8415
    assert wilson(32, 32).high == 1.0
    assert wilson(32, 32).low == pytest.approx(32 / (32 + 1.959964**2), abs=1e-6)
    assert wilson(0, 32).low == 0.0
    assert wilson(0, 32).high == pytest.approx(1.959964**2 / (32 + 1.959964**2), abs=1e-6)


def test_interval_is_mirror_symmetric_and_holds_the_observed_rate():
    for n in (1, 7, 32):
        for k in range(n + 1):
            a, b = wilson(k, n), wilson(n - k, n)
            assert a.low == pytest.approx(1 - b.high, abs=1e-12) and a.high == pytest.approx(
                1 - b.low, abs=1e-12
            )
            assert 0.0 <= a.low <= k / n <= a.high <= 1.0


def test_more_pictures_narrow_the_interval():
    widths = [wilson(n // 2, n).high - wilson(n // 2, n).low for n in (8, 32, 128)]
    assert widths[0] > widths[1] > widths[2]


def test_no_pictures_means_no_knowledge_and_impossible_counts_are_refused():
    assert wilson(0, 0) == Interval(0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(5, 4)


def test_overlap_includes_touching_intervals():
    assert Interval(0.1, 0.5).overlaps(Interval(0.5, 0.9))
    assert not Interval(0.1, 0.49).overlaps(Interval(0.5, 0.9))


def C(step: int, passed: int, images: int = 32) -> Candidate:
    return Candidate(f"step{step}", step, passed, images)


def test_an_earlier_checkpoint_within_the_best_ones_interval_wins():
    # 31/32 [0.84, 0.99]; 30/32 [0.80, 0.98] overlaps it; 10/32 [0.18, 0.49] does not
    v = choose_winner([C(500, 10), C(1000, 30), C(1500, 31)])
    assert v.best == "step1500"
    assert v.winner == "step1000"
    assert v.tied == ("step1000", "step1500")
    assert "earlier step wins" in v.reason


def test_ties_are_judged_against_the_best_only_not_passed_along_a_chain():
    # by hand: 32/32 -> [0.8928, 1]; 26/32 -> [0.6469, 0.9111] (overlaps); 20/32 -> [0.4525, 0.7707]
    # 20/32 overlaps 26/32 but not the best, so it is not tied with the best
    v = choose_winner([C(500, 20), C(1000, 26), C(1500, 32)])
    assert v.winner == "step1000"
    assert "step500" not in v.tied


def test_a_clearly_better_checkpoint_wins_even_when_it_is_later():
    v = choose_winner([C(500, 5), C(1000, 31)])
    assert v.winner == v.best == "step1000"
    assert v.tied == ("step1000",)


def test_equal_rates_go_to_the_earlier_step_whatever_the_input_order():
    v = choose_winner([C(2000, 20), C(1000, 20), C(3000, 20)])
    assert v.winner == v.best == "step1000"


def test_nothing_drawn_nothing_chosen():
    assert choose_winner([]) is None
    assert choose_winner([C(500, 0, images=0)]) is None


def test_a_single_checkpoint_wins_by_default_and_says_so():
    v = choose_winner([C(2, 0, images=8)])
    assert v.winner == "step2" and v.reason == "the only trained checkpoint drawn"
