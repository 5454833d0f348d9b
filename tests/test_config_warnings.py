"""Legal but suspicious settings are warned about, each with its reason, and only past the line."""

from __future__ import annotations

from ascii_lora.config.models import ExperimentConfig


def warnings(**tables) -> list[str]:
    return ExperimentConfig.model_validate(tables).warnings()


def test_the_default_config_is_not_suspicious():
    assert warnings() == []


def test_each_suspicious_setting_has_its_warning_and_reason():
    assert warnings(network={"dim": 16, "alpha": 40}) == [
        "[network] alpha 40 > dim 16: updates are scaled up by 2.5x"
    ]
    assert warnings(
        training={"max_train_steps": 400, "save_every_n_steps": 500}, sample={"every_n_steps": 100}
    ) == [
        "[training] save_every_n_steps > max_train_steps: only the final LoRA is saved and the run cannot resume midway"
    ]
    assert warnings(training={"max_train_steps": 200, "save_every_n_steps": 100}) == [
        "[sample] every_n_steps > max_train_steps: no samples during training, nothing for `make check`"
    ]
    assert warnings(training={"mixed_precision": "fp16"}) == [
        "[training] mixed_precision fp16: FLUX is trained in bf16; fp16 overflows are likely"
    ]
    assert warnings(optimizer={"learning_rate": 0.003}) == [
        "[optimizer] learning_rate 0.003 is very high for a rank-64 FLUX LoRA"
    ]


def test_the_limits_themselves_are_fine():
    """alpha == dim, a save or sample exactly at the last step and lr 2e-3 are deliberate choices."""
    assert (
        warnings(
            network={"dim": 32, "alpha": 32},
            training={"max_train_steps": 500, "save_every_n_steps": 500},
            sample={"every_n_steps": 500},
            optimizer={"learning_rate": 2e-3},
        )
        == []
    )
