"""The CPU rehearsal's precision: the plan's bf16 unless this CPU makes it crawl, flags decide outright."""

from __future__ import annotations

import pytest

from ascii_lora.rehearse import precision


def _never() -> float:
    raise AssertionError("a flag decides without measuring")


def test_fp32_flag_trains_in_float32_without_measuring():
    fp32, why = precision.choose(True, False, _never)
    assert fp32 and "--fp32" in why


def test_bf16_flag_keeps_bf16_without_measuring():
    fp32, why = precision.choose(False, True, _never)
    assert not fp32 and "--bf16" in why


@pytest.mark.parametrize(("ratio", "fp32"), [(1.0, False), (8.0, False), (8.01, True), (150.0, True)])
def test_a_cpu_over_8x_slower_in_bf16_trains_in_float32_and_says_by_how_much(ratio, fp32):
    chosen, why = precision.choose(False, False, lambda: ratio)
    assert chosen is fp32
    assert (f"{ratio:.0f}x slower" in why) if fp32 else ("bf16 is" in why)
    if fp32:
        assert "--bf16 keeps bf16" in why, "the line names the way back"


def test_the_measurement_times_real_matmuls():
    pytest.importorskip("torch")
    ratio = precision.bf16_slowdown(size=64, repeats=1)
    assert ratio > 0 and ratio == ratio  # a positive, finite number (nan != nan)


def test_the_cli_refuses_both_flags_at_once(capsys):
    from ascii_lora.cli.app import main

    with pytest.raises(SystemExit) as e:
        main(["rehearse", "--fp32", "--bf16"])
    assert e.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags",
    [
        ["--fp32", "--phases", "single,multi"],
        ["--bf16", "--cache", "/c", "--config", "configs/flux_ascii.toml"],
        ["--compare", "--steps", "3", "--vram-profile", "24gb", "--vram-profile", "16gb", "--full-size"],
    ],
)
def test_the_command_run_again_in_the_train_env_keeps_every_flag(flags, tmp_path):
    """Oracle: the real parser reads the same options back from the re-run argv."""
    from ascii_lora.cli.app import build_parser
    from ascii_lora.cli.rehearse import _argv_again

    parser = build_parser()
    given = parser.parse_args(["rehearse", *flags])
    again = parser.parse_args(_argv_again(given, tmp_path / "venv"))
    assert {k: v for k, v in vars(again).items() if k != "train_venv"} == {
        k: v for k, v in vars(given).items() if k != "train_venv"
    }
    assert again.train_venv == tmp_path / "venv"
