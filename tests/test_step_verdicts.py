"""A checkpoint message's verdicts: the samples of that one step, judged by the checker."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ascii_lora.check.step_verdicts import step_verdicts, verdict_text
from ascii_lora.config.models import CheckConfig

from .test_check import picture
from .test_check_runs import NAME


def test_only_the_samples_of_that_step_are_judged(tmp_path):
    good = picture("maze")[0]
    grey = np.full_like(good, 128)  # no content, no black background: fails
    for stem, img in (
        (f"{NAME}_000002_00_20261126094420_1234", good),
        (f"{NAME}_000002_01_20261126094421_1234", grey),
        (f"{NAME}_000004_00_20261126095000_1234", good),
        (f"{NAME}_e000000_00_20261126094105_1234", good),
    ):
        Image.fromarray(img).convert("RGB").save(tmp_path / f"{stem}.png")
    (tmp_path / f"{NAME}_000002_02_20261126094422_1234.png").write_bytes(b"not a png")
    assert step_verdicts(tmp_path, 2, CheckConfig(), 16) == (1, 3)
    assert step_verdicts(tmp_path, 4, CheckConfig(), 16) == (1, 1)
    assert step_verdicts(tmp_path, 6, CheckConfig(), 16) == (0, 0)
    assert (verdict_text(1, 3), verdict_text(0, 0)) == (
        "check: 1 of 3 samples pass",
        "check: no samples at this step",
    )
