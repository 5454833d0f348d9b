"""A judge that is not us: the checker against a person's verdicts on pictures the project did not draw.

tools/foreign_set.py draws every picture with Pillow's own fonts and shapes (the kit_1px class
borrows only the atlas's tile shapes and distorts them itself), degraded the way a decoder
degrades them; tools/foreign_verdicts.json holds what a person saw in each. Both parts are held
to the issue's bar: the "held" part was never looked at while the thresholds were tuned.
"""

from __future__ import annotations

import pytest

from tools import foreign_judge as judge
from tools import foreign_set as fs

OVERALL, PER_CLASS, READ_BACK = 0.95, 0.80, 0.95


@pytest.fixture(scope="module", params=sorted(fs.PARTS))
def agreement(request) -> tuple[str, dict]:
    return request.param, judge.agreement(request.param)


def test_every_picture_has_a_person_s_verdict():
    verdicts = judge.load_verdicts()
    for part in fs.PARTS:
        keys = {p.key for k in fs.CLASSES for p in fs.pictures(part, k)}
        assert keys == set(verdicts[part]), part
        assert all(v["seen"] for v in verdicts[part].values())


def test_the_checker_agrees_with_the_person_overall_and_on_every_class(agreement):
    part, res = agreement
    total = sum(ok for ok, _, _ in res["classes"].values())
    count = sum(n for _, n, _ in res["classes"].values())
    misses = [m for _, _, ms in res["classes"].values() for m in ms]
    assert total / count >= OVERALL, (part, misses)
    for klass, (ok, n, ms) in res["classes"].items():
        assert ok / n >= PER_CLASS, (part, klass, ms)


def test_the_kit_s_glyphs_one_pixel_off_read_back_as_drawn(agreement):
    part, res = agreement
    right, drawn = res["read"]
    assert drawn > 1000 and right / drawn >= READ_BACK, (part, right, drawn)


def test_the_set_is_drawn_the_same_way_every_time():
    a, b = fs.pictures("tune", "jpeg_noise", 2), fs.pictures("tune", "jpeg_noise", 2)
    assert all((x.image == y.image).all() and x.what == y.what for x, y in zip(a, b, strict=False))
