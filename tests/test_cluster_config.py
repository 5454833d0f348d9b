"""[cluster] and the multi-process refusals: what is refused before anything starts, one line each."""

from __future__ import annotations

from pathlib import Path

import pytest

from ascii_lora.config.loader import load_config
from ascii_lora.config.models import ExperimentConfig
from ascii_lora.errors import UserError
from ascii_lora.train.cluster import (
    head_address,
    host_ram_needed,
    host_ram_warning,
    multiprocess_refusals,
    num_processes,
    resolve_machine_rank,
)
from ascii_lora.train.kohya.plan import build_plan

TWO_MACHINES = {"num_machines": 2, "main_process_ip": "10.0.0.1"}


def cfg_for(gpus: int = 2, profile: str = "24gb", cluster: dict | None = None, **tables) -> ExperimentConfig:
    return ExperimentConfig.model_validate(
        {"hardware": {"vram_profile": profile, "num_gpus": gpus}, "cluster": cluster or {}, **tables}
    )


def write_toml(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "exp.toml"
    p.write_text(text)
    return p


def test_the_cluster_table_has_accelerates_names_and_defaults():
    c = ExperimentConfig().cluster
    assert c.model_dump() == {
        "num_machines": 1,
        "main_process_ip": None,
        "main_process_port": 29500,
        "rdzv_backend": "static",
        "same_network": True,
    }


def test_a_rank_in_the_shared_file_is_refused_naming_the_key(tmp_path):
    with pytest.raises(UserError) as e:
        load_config(
            write_toml(tmp_path, '[cluster]\nnum_machines = 2\nmain_process_ip = "h"\nmachine_rank = 1\n')
        )
    assert "machine_rank" in str(e.value)


def test_several_machines_without_the_heads_address_are_refused(tmp_path):
    with pytest.raises(UserError) as e:
        load_config(write_toml(tmp_path, "[cluster]\nnum_machines = 2\n"))
    msg = str(e.value)
    assert "main_process_ip" in msg and "\n" not in msg
    assert (
        load_config(
            write_toml(tmp_path, '[cluster]\nnum_machines = 2\nmain_process_ip = "node001"\n')
        ).cluster.num_machines
        == 2
    )


@pytest.mark.parametrize("ip", ["10.0.0.1", "node-01.cluster", "::1", "fe80::1", "localhost"])
def test_addresses_accepted(ip):
    assert cfg_for(cluster={"num_machines": 2, "main_process_ip": ip}).cluster.main_process_ip == ip


@pytest.mark.parametrize("ip", ["", "--evil", "10.0.0.1 --x", "http://h", "a/b", "-h"])
def test_addresses_refused(ip):
    with pytest.raises(ValueError):
        cfg_for(cluster={"num_machines": 2, "main_process_ip": ip})


@pytest.mark.parametrize(
    "bad",
    [
        {"main_process_port": 0},
        {"main_process_port": 65536},
        {"rdzv_backend": "etcd"},
        {"num_machines": 0},
        {"same_network": "yes"},
    ],
)
def test_out_of_range_values_refused(bad):
    with pytest.raises(ValueError):
        cfg_for(cluster=bad)


def test_num_processes_is_the_total_over_all_machines():
    assert num_processes(cfg_for(gpus=2)) == 2
    assert num_processes(cfg_for(gpus=2, cluster=TWO_MACHINES)) == 4
    assert num_processes(cfg_for(gpus=1, cluster={**TWO_MACHINES, "num_machines": 3})) == 3


# -- machine rank --------------------------------------------------------------------------------


def test_rank_order_flag_then_machine_rank_then_slurm():
    c = cfg_for(cluster={**TWO_MACHINES, "num_machines": 4}).cluster
    env = {"MACHINE_RANK": "2", "SLURM_NODEID": "3"}
    assert resolve_machine_rank(1, env, c) == 1
    assert resolve_machine_rank(None, env, c) == 2
    assert resolve_machine_rank(None, {"SLURM_NODEID": "3"}, c) == 3
    assert resolve_machine_rank(None, {"MACHINE_RANK": " ", "SLURM_NODEID": "3"}, c) == 3


def test_a_lone_machine_is_rank_0_and_several_need_a_rank():
    assert resolve_machine_rank(None, {}, cfg_for().cluster) == 0
    with pytest.raises(UserError) as e:
        resolve_machine_rank(None, {}, cfg_for(cluster=TWO_MACHINES).cluster)
    assert (
        "--machine-rank" in str(e.value) and "MACHINE_RANK" in str(e.value) and "SLURM_NODEID" in str(e.value)
    )


@pytest.mark.parametrize(
    "flag,env,source",
    [
        (2, {}, "--machine-rank 2"),
        (-1, {}, "--machine-rank -1"),
        (None, {"MACHINE_RANK": "5"}, "MACHINE_RANK 5"),
        (None, {"SLURM_NODEID": "2"}, "SLURM_NODEID 2"),
    ],
)
def test_a_rank_outside_the_machines_is_refused_naming_its_source(flag, env, source):
    with pytest.raises(UserError) as e:
        resolve_machine_rank(flag, env, cfg_for(cluster=TWO_MACHINES).cluster)
    assert str(e.value).startswith(f"{source} is outside [0, 2)")


def test_a_rank_that_is_no_number_is_refused():
    with pytest.raises(UserError) as e:
        resolve_machine_rank(None, {"MACHINE_RANK": "one"}, cfg_for(cluster=TWO_MACHINES).cluster)
    assert "MACHINE_RANK='one'" in str(e.value)


def test_slurms_head_address_overrides_the_config_and_obeys_its_rules():
    c = cfg_for(cluster=TWO_MACHINES).cluster
    assert head_address(c, {}) == "10.0.0.1"
    assert head_address(c, {"MAIN_PROCESS_IP": "gpu-node-7"}) == "gpu-node-7"
    with pytest.raises(ValueError):
        head_address(c, {"MAIN_PROCESS_IP": "--oops"})


# -- what sd-scripts cannot do with several processes ---------------------------------------------


@pytest.mark.parametrize("profile", ["16gb", "12gb"])
def test_block_swap_with_several_processes_is_refused_before_a_plan_exists(tmp_path, profile):
    tables = {"optimizer": {"type": "adamw8bit"}} if profile == "12gb" else {}
    with pytest.raises(UserError) as e:
        build_plan(cfg_for(gpus=2, profile=profile, **tables), tmp_path)
    assert "blocks_to_swap" in str(e.value) and "DistributedDataParallel" in str(e.value)
    assert not list(tmp_path.iterdir())  # nothing written
    build_plan(cfg_for(gpus=1, profile=profile, **tables), tmp_path)  # one process: block swap works


def test_block_swap_on_several_machines_of_one_gpu_is_refused_too(tmp_path):
    with pytest.raises(UserError, match="blocks_to_swap = 8 with 2 processes"):
        build_plan(cfg_for(gpus=1, profile="16gb", cluster=TWO_MACHINES), tmp_path)


def test_an_explicit_zero_swap_lifts_the_refusal(tmp_path):
    cfg = ExperimentConfig.model_validate(
        {"hardware": {"vram_profile": "16gb", "num_gpus": 2, "blocks_to_swap": 0}}
    )
    assert "--blocks_to_swap" not in build_plan(cfg, tmp_path).argv


def test_split_mode_in_the_argv_is_refused_with_several_processes():
    cfg = cfg_for(gpus=2)
    assert any("--split_mode" in r for r in multiprocess_refusals(cfg, ["x.py", "--split_mode"]))
    assert multiprocess_refusals(cfg_for(gpus=1), ["x.py", "--split_mode", "--blocks_to_swap", "8"]) == []


def batch_cfg(
    count: int, batch: int, accumulation: int = 1, gpus: int = 2, machines: int = 1, repeats: int = 1
):
    cluster = {"num_machines": machines, "main_process_ip": "h"} if machines > 1 else {}
    return cfg_for(
        gpus=gpus,
        cluster=cluster,
        dataset={"count": count},
        training={"batch_size": batch, "gradient_accumulation_steps": accumulation, "num_repeats": repeats},
    )


@pytest.mark.parametrize(
    "count,batch,acc,gpus,machines,refused",
    [
        (8, 4, 1, 2, 1, False),  # 2 batches, 2 processes: one each
        (8, 8, 1, 2, 1, True),  # 1 batch for 2 processes
        (7, 4, 1, 2, 1, False),  # ceil(7/4) = 2 batches
        (8, 2, 2, 2, 1, False),  # 4 batches = 2 processes x 2 accumulation
        (8, 2, 3, 2, 1, True),  # 4 batches < 6
        (8, 2, 1, 2, 2, False),  # 4 batches, 4 processes over 2 machines
        (8, 4, 1, 2, 2, True),  # 2 batches, 4 processes
    ],
)
def test_an_epoch_needs_a_batch_per_process_and_accumulation_step(
    tmp_path, count, batch, acc, gpus, machines, refused
):
    cfg = batch_cfg(count, batch, acc, gpus, machines)
    lines = [r for r in multiprocess_refusals(cfg, []) if "batches" in r]
    assert bool(lines) == refused
    if refused:
        assert f"total batch {batch * gpus * machines * acc}" in lines[0] and "\n" not in lines[0]


def test_repeats_count_as_images_of_the_epoch():
    assert multiprocess_refusals(batch_cfg(4, 4, repeats=1), []) != []
    assert multiprocess_refusals(batch_cfg(4, 4, repeats=2), []) == []


def test_one_process_is_never_refused():
    assert multiprocess_refusals(batch_cfg(1, 64, accumulation=8, gpus=1), ["--blocks_to_swap", "8"]) == []


# -- host RAM ------------------------------------------------------------------------------------


def test_host_ram_warning_scales_with_the_processes_of_one_machine():
    gib = 1 << 30
    need1 = host_ram_needed(34 * gib, 1)
    assert host_ram_needed(34 * gib, 4) == 4 * need1
    assert host_ram_warning(34 * gib, 2, 2 * need1) is None
    w = host_ram_warning(34 * gib, 2, 2 * need1 - 1)
    assert w is not None and "2 processes" in w and "own copy" in w
    assert host_ram_warning(34 * gib, 8, None) is None  # unknown RAM: no guess


def test_the_ram_note_adds_up_the_model_files_the_plan_loads(tmp_path):
    from ascii_lora.train.cluster_run import host_ram_note, mem_total

    models = {}
    for key, size in (("flux", 3 << 20), ("clip_l", 1 << 20), ("t5xxl", 2 << 20), ("ae", 1 << 20)):
        p = tmp_path / f"{key}.safetensors"
        p.write_bytes(b"\0" * size)
        models[key] = str(p)
    cfg = ExperimentConfig.model_validate({"model": models, "hardware": {"num_gpus": 2}})
    plan = build_plan(cfg, tmp_path)
    need = host_ram_needed(7 << 20, 2)
    assert host_ram_note(cfg, plan, total=need) is None
    assert "2 processes" in host_ram_note(cfg, plan, total=need - 1)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24683784 kB\nMemFree: 1 kB\n")
    assert mem_total(meminfo) == 24683784 * 1024 and mem_total(tmp_path / "none") is None


def test_simpletuner_on_several_machines_is_refused(tmp_path):
    text = '[cluster]\nnum_machines = 2\nmain_process_ip = "h"\n'
    with pytest.raises(UserError) as e:
        load_config(write_toml(tmp_path, '[trainer]\nkind = "simpletuner"\n' + text))
    assert "[cluster] num_machines" in str(e.value) and "SimpleTuner" in str(e.value)
    assert load_config(write_toml(tmp_path, text)).cluster.num_machines == 2  # sd-scripts takes it
