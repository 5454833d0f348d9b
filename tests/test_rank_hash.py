"""The rehearsal's per-rank LoRA hash: taken inside each process when training ends (real accelerate, CPU)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
accelerate = pytest.importorskip("accelerate")

from ascii_lora.rehearse.sd_launcher import _record_lora_per_rank, lora_digest  # noqa: E402


class FakeLoRA(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.unet_loras = torch.nn.ModuleList(
            [torch.nn.Linear(4, 2, bias=False), torch.nn.Linear(2, 4, bias=False)]
        )


def test_the_digest_is_the_weights():
    a, b = FakeLoRA(), FakeLoRA()
    assert lora_digest(a) == lora_digest(b) and lora_digest(a)[1] == 2
    with torch.no_grad():
        b.unet_loras[1].weight[0, 0] += 1e-6
    assert lora_digest(a)[0] != lora_digest(b)[0]


def test_each_rank_writes_its_hash_when_training_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(
        accelerate.Accelerator, "prepare", accelerate.Accelerator.prepare
    )  # restored afterwards
    monkeypatch.setattr(accelerate.Accelerator, "end_training", accelerate.Accelerator.end_training)
    _record_lora_per_rank(tmp_path / "hashes")
    acc = accelerate.Accelerator(cpu=True)
    net = FakeLoRA()
    other = torch.nn.Linear(3, 3)  # not a LoRA network: not hashed
    acc.prepare(other, net)
    monkeypatch.setenv("RANK", "1")  # what torchrun gives the second process (read when training ends)
    monkeypatch.setenv("WORLD_SIZE", "2")
    acc.end_training()
    accelerate.state.AcceleratorState._reset_state(True)
    data = json.loads((tmp_path / "hashes" / "rank1.json").read_text())
    assert data["rank"] == 1 and data["world_size"] == 2 and data["sha256"] == lora_digest(net)[0]


def test_fp32_changes_only_the_precision_flags():
    from ascii_lora.rehearse.sd_launcher import fp32_args

    args = ["--ae", "a", "--mixed_precision", "bf16", "--fp8_base", "--save_precision", "bf16", "--seed", "1"]
    assert fp32_args(args) == [
        "--ae",
        "a",
        "--mixed_precision",
        "no",
        "--save_precision",
        "bf16",
        "--seed",
        "1",
    ]


def test_a_frozen_model_is_left_unwrapped_on_the_cpu_as_accelerate_does_on_gpus(monkeypatch):
    from accelerate.utils import DistributedType

    from ascii_lora.rehearse.sd_launcher import _frozen_models_unwrapped_on_cpu

    seen = []
    monkeypatch.setattr(
        accelerate.Accelerator,
        "prepare_model",
        lambda self, model, device_placement=None, evaluation_mode=False: seen.append(evaluation_mode),
    )
    monkeypatch.setattr(accelerate.Accelerator, "distributed_type", DistributedType.MULTI_CPU, raising=False)
    _frozen_models_unwrapped_on_cpu()
    acc = object.__new__(accelerate.Accelerator)
    frozen, trained = torch.nn.Linear(2, 2).requires_grad_(False), torch.nn.Linear(2, 2)
    acc.prepare_model(frozen)
    acc.prepare_model(trained)
    assert seen == [True, False]


def test_the_float32_rehearsal_turns_cpu_autocast_off_and_leaves_other_devices_alone(monkeypatch):
    """sd-scripts' update_grad_norms runs under torch.autocast(device) whatever --mixed_precision says."""
    torch = pytest.importorskip("torch")
    from ascii_lora.rehearse.sd_launcher import cpu_autocast_off

    monkeypatch.setattr(torch, "autocast", torch.autocast)  # undone after the test
    a = torch.ones(4, 4)
    with torch.autocast("cpu"):
        assert (a @ a).dtype == torch.bfloat16, "the premise: CPU autocast means bf16"
    cpu_autocast_off()
    with torch.autocast("cpu"):
        assert (a @ a).dtype == torch.float32
    with torch.autocast("cpu", torch.bfloat16):  # a dtype given positionally still stays off
        assert (a @ a).dtype == torch.float32
    assert torch.autocast("cuda", enabled=False).device == "cuda"  # other devices keep their settings
