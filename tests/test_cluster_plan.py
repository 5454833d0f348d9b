"""The cluster plan files, judged by the pinned accelerate itself: its launch parser reads every
emitted argv, its config loader reads accelerate_config.yaml, and a hand-run launch from the yaml
means the same as our argv. For 1 machine x 2 GPUs and 2 machines x 2 GPUs."""

from __future__ import annotations

import shlex
import socket
import subprocess
from pathlib import Path

import pytest

from ascii_lora.config.models import ExperimentConfig
from ascii_lora.train.cluster_files import ACCELERATE_YAML, TRAIN_SBATCH, cluster_plan_files
from ascii_lora.train.kohya.plan import TRAIN_SCRIPT, build_plan

accelerate = pytest.importorskip(
    "accelerate", reason="the dev extra installs the pinned accelerate (make test)"
)
from accelerate.commands.config.config_args import load_config_from_file  # noqa: E402
from accelerate.commands.launch import _validate_launch_command, launch_command_parser  # noqa: E402
from accelerate.utils.launch import prepare_multi_gpu_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {"1x2": (1, 2), "2x2": (2, 2)}  # machines x GPUs on each


def test_the_pinned_accelerate_judges():
    assert accelerate.__version__ == "1.6.0"  # sd-scripts 48d368fa's requirements.txt


def cfg_for(
    machines: int, gpus: int, port: int = 29500, backend: str = "static", same: bool = True
) -> ExperimentConfig:
    cluster = {
        "num_machines": machines,
        "main_process_port": port,
        "rdzv_backend": backend,
        "same_network": same,
    }
    if machines > 1:
        cluster["main_process_ip"] = "10.1.2.3"
    return ExperimentConfig.model_validate({"hardware": {"num_gpus": gpus}, "cluster": cluster})


def parse(argv: list[str]):
    """accelerate's own reading of an ``accelerate launch ...`` argv."""
    assert argv[:2] == ["accelerate", "launch"]
    return launch_command_parser().parse_args(argv[2:])


@pytest.mark.parametrize("shape", SHAPES)
def test_every_ranks_argv_parses_with_the_totals_accelerate_expects(tmp_path, shape):
    machines, gpus = SHAPES[shape]
    cfg = cfg_for(machines, gpus)
    for rank in range(machines):
        plan = build_plan(cfg, tmp_path, machine_rank=rank)
        a = parse(plan.argv)
        assert a.multi_gpu is True and a.num_processes == machines * gpus  # the total over all machines
        assert a.training_script == str(TRAIN_SCRIPT) and a.training_script_args == plan.trainer_args
        assert a.mixed_precision == "bf16"
        if machines > 1:
            assert (a.num_machines, a.machine_rank) == (machines, rank)
            assert (a.main_process_ip, a.main_process_port, a.rdzv_backend, a.same_network) == (
                "10.1.2.3",
                29500,
                "static",
                True,
            )
        else:
            assert a.num_machines is None and a.machine_rank is None and a.main_process_ip is None


def test_only_the_rank_differs_between_machines(tmp_path):
    cfg = cfg_for(2, 2)
    a0, a1 = (build_plan(cfg, tmp_path, machine_rank=r).argv for r in (0, 1))
    diff = [(x, y) for x, y in zip(a0, a1, strict=True) if x != y]
    assert len(a0) == len(a1) and diff == [("0", "1")] and a1[a1.index("--machine_rank") + 1] == "1"


def test_port_backend_and_network_reach_the_argv(tmp_path):
    a = parse(
        build_plan(cfg_for(2, 1, port=31337, backend="c10d", same=False), tmp_path, machine_rank=1).argv
    )
    assert (a.main_process_port, a.rdzv_backend, a.same_network, a.num_processes) == (31337, "c10d", False, 2)
    a = parse(build_plan(cfg_for(2, 1, backend="static", same=False), tmp_path, machine_rank=1).argv)
    assert (a.rdzv_backend, a.same_network) == ("static", False)
    # c10d needs torchrun's rendezvous endpoint, which accelerate sets only without --same_network
    a = parse(build_plan(cfg_for(2, 1, backend="c10d", same=True), tmp_path, machine_rank=1).argv)
    assert (a.rdzv_backend, a.same_network) == ("c10d", False)


def test_one_gpu_on_one_machine_stays_a_plain_launch_and_writes_no_cluster_files(tmp_path):
    cfg = cfg_for(1, 1)
    a = parse(build_plan(cfg, tmp_path).argv)
    assert a.multi_gpu is False and a.num_processes is None
    assert cluster_plan_files(cfg, ROOT, tmp_path) == {}


@pytest.mark.parametrize("shape", SHAPES)
def test_the_yaml_loads_with_accelerates_loader_and_matches_the_argv(tmp_path, shape):
    machines, gpus = SHAPES[shape]
    cfg = cfg_for(machines, gpus)
    files = cluster_plan_files(cfg, ROOT, tmp_path)
    (tmp_path / ACCELERATE_YAML).write_text(files[ACCELERATE_YAML])
    loaded = load_config_from_file(str(tmp_path / ACCELERATE_YAML))  # raises on any key accelerate lacks
    assert str(loaded.distributed_type) in ("MULTI_GPU", "DistributedType.MULTI_GPU")
    assert (loaded.num_processes, loaded.num_machines, loaded.machine_rank) == (machines * gpus, machines, 0)
    assert (
        loaded.mixed_precision == "bf16" and loaded.rdzv_backend == "static" and loaded.same_network is True
    )
    if machines > 1:
        assert (loaded.main_process_ip, loaded.main_process_port) == ("10.1.2.3", 29500)


def hand_run(yaml: Path, rank: int) -> list[str]:
    """The command the yaml's own header tells a user to run, as that user would type it."""
    line = next(x for x in yaml.read_text().splitlines() if x.startswith("# By hand: "))[len("# By hand: ") :]
    words = shlex.split(line.replace(" <args>", "").replace("<script>", str(TRAIN_SCRIPT)))
    return [str(yaml) if w == ACCELERATE_YAML else str(rank) if w == "N" else w for w in words]


def torchrun_view(argv: list[str]) -> tuple:
    """What accelerate hands torchrun for this argv: processes here, machines, rank, rendezvous."""
    args, *_ = _validate_launch_command(parse(argv))
    env = prepare_multi_gpu_env(args)
    endpoint = (
        getattr(args, "rdzv_endpoint", None)
        or f"{getattr(args, 'master_addr', None)}:{getattr(args, 'master_port', None)}"
    )
    return (
        args.nproc_per_node,
        getattr(args, "nnodes", "1"),
        getattr(args, "node_rank", 0),
        args.rdzv_backend,
        endpoint,
        env["ACCELERATE_MIXED_PRECISION"],
    )


@pytest.mark.parametrize("backend", ["static", "c10d"])
@pytest.mark.parametrize("shape", SHAPES)
def test_a_hand_run_launch_from_the_yaml_means_what_our_argv_means(tmp_path, shape, backend):
    """`accelerate launch --config_file accelerate_config.yaml --machine_rank N` hands torchrun what rank
    N's argv hands it, after accelerate merged the file into the arguments itself."""
    machines, gpus = SHAPES[shape]
    cfg = cfg_for(machines, gpus, port=free_port(), backend=backend)
    yaml = tmp_path / ACCELERATE_YAML
    yaml.write_text(cluster_plan_files(cfg, ROOT, tmp_path)[ACCELERATE_YAML])
    for rank in range(machines):
        ours = torchrun_view(build_plan(cfg, tmp_path, machine_rank=rank).argv)
        by_hand = torchrun_view(hand_run(yaml, rank))
        assert ours == by_hand
        assert ours[:3] == (str(gpus), str(machines), rank) if machines > 1 else ours[0] == str(gpus)
        if machines > 1:
            assert ours[4] == f"10.1.2.3:{cfg.cluster.main_process_port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_several_machines_share_one_train_sh_that_takes_the_rank_at_launch(tmp_path):
    sh = cluster_plan_files(cfg_for(2, 2), ROOT, tmp_path)["train.sh"]
    assert "--machine_rank" not in sh and "MACHINE_RANK" in sh and "SLURM_NODEID" in sh
    assert f"ascii-lora train --config {tmp_path / 'config.resolved.toml'}" in sh
    r = subprocess.run(["bash", "-n", "-c", sh], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_train_sh_passes_its_arguments_on_and_leaves_the_rank_to_ascii_lora(tmp_path):
    """Run the script's own rank line with a stand-in for ascii-lora that prints what it received."""
    sh = cluster_plan_files(cfg_for(2, 2), ROOT, tmp_path)["train.sh"]
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ascii-lora").write_text('#!/bin/sh\necho "rank=${MACHINE_RANK:-unset} args=$*"\n')
    (fake / "ascii-lora").chmod(0o755)
    script = sh.replace("export PATH=", f"export PATH={fake}:")
    (tmp_path / "t.sh").write_text(script)
    out = subprocess.run(
        ["bash", str(tmp_path / "t.sh"), "--machine-rank", "1"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.startswith("rank=unset args=train --config"), out.stderr
    assert out.stdout.rstrip().endswith("--machine-rank 1")  # ascii-lora resolves the rank (cluster.py)
    out = subprocess.run(
        ["bash", str(tmp_path / "t.sh")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "SLURM_NODEID": "1"},
    )
    assert out.stdout.startswith("rank=unset args=train"), out.stderr  # ascii-lora reads SLURM_NODEID itself


def test_the_sbatch_runs_one_task_per_node_with_the_head_from_the_node_list(tmp_path):
    cfg = cfg_for(2, 4, port=29777)
    text = cluster_plan_files(cfg, ROOT, tmp_path)[TRAIN_SBATCH]
    directives = dict(
        line[len("#SBATCH ") :].split("=", 1) for line in text.splitlines() if line.startswith("#SBATCH ")
    )
    assert (
        directives["--nodes"] == "2"
        and directives["--ntasks-per-node"] == "1"
        and directives["--gpus-per-node"] == "4"
    )
    assert 'MAIN_PROCESS_IP="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"' in text
    assert "MAIN_PROCESS_PORT=29777" in text
    srun = next(line for line in text.splitlines() if line.startswith("srun "))
    assert shlex.split(srun)[-2:] == ["bash", str(tmp_path / "train.sh")] and "--ntasks-per-node=1" in srun
    assert subprocess.run(["bash", "-n", "-c", text]).returncode == 0


def test_plan_for_2_machines_x_2_gpus_writes_the_three_files_accelerate_accepts(
    tmp_path, monkeypatch, capsys
):
    from ascii_lora.cli import main

    run = tmp_path / "run"
    (tmp_path / "exp.toml").write_text(
        f'[hardware]\nnum_gpus = 2\n[cluster]\nnum_machines = 2\nmain_process_ip = "10.1.2.3"\n'
        f'[training]\noutput_dir = "{run}"\n'
    )
    monkeypatch.chdir(ROOT)
    assert main(["plan", "--config", str(tmp_path / "exp.toml")]) == 0
    out = capsys.readouterr().out
    for name in ("train.sh", ACCELERATE_YAML, TRAIN_SBATCH):
        assert (run / name).is_file() and f"wrote {run / name}" in out
    assert load_config_from_file(str(run / ACCELERATE_YAML)).num_processes == 4
    for rank in (0, 1):
        assert (
            main(["train", "--config", str(tmp_path / "exp.toml"), "--dry-run", "--machine-rank", str(rank)])
            == 0
        )
        printed = capsys.readouterr().out.strip().splitlines()[-1]
        a = parse(shlex.split(printed))
        assert (a.num_processes, a.num_machines, a.machine_rank) == (4, 2, rank)
