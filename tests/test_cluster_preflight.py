"""Pre-flight on each machine: same plan, trainer and data; visible GPUs; a shared run directory and a
reachable head, each one line after a bounded wait (never a hang). Two "machines" here are two
threads on 127.0.0.1 sharing (or not sharing) a folder."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from ascii_lora.train.cluster_preflight import (
    HANDSHAKE_DIR,
    HEAD_FILE,
    SHARED_MARK,
    Facts,
    HeadGate,
    check_reachable_head,
    check_shared_dataset,
    compare_with_head,
    join_head,
    manifest_digest,
    plan_digest,
)

FILES = {
    "dataset_config.toml": "a",
    "sample_prompts.txt": "b",
    "train.args.json": '["x"]',
    "config.resolved.toml": "c",
    "accelerate_config.yaml": "d",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Clock:
    """A monotonic clock the test moves: bounded waits end without sleeping through them."""

    def __init__(self, step: float):
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def test_plan_digest_covers_what_the_trainer_reads_and_nothing_machine_local():
    d = plan_digest(FILES)
    for name in FILES:
        assert plan_digest({**FILES, name: FILES[name] + " "}) != d, name
    assert plan_digest({**FILES, "train.sh": "#!/bin/sh other python"}) == d
    assert plan_digest({**FILES, "train.sbatch": "x"}) == d
    assert plan_digest(dict(reversed(list(FILES.items())))) == d
    # a name is part of what is hashed: moving text between files changes the digest
    assert plan_digest({**FILES, "sample_prompts.txt": "a", "dataset_config.toml": "b"}) != d


def test_manifest_digest_is_the_manifests_bytes(tmp_path):
    assert manifest_digest(tmp_path) is None
    (tmp_path / "manifest.json").write_text('{"a": 1}')
    one = manifest_digest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"a": 2}')
    assert manifest_digest(tmp_path) != one and len(one) == 64


def test_each_fact_is_compared_with_the_heads_one_line_each():
    head = Facts("p" * 64, "c" * 40, "m" * 64, "head-host")
    ok = compare_with_head(head, head)
    assert [c.name for c in ok] == ["same plan", "same sd-scripts", "same dataset"] and all(c.ok for c in ok)
    for key, name in (("plan", "same plan"), ("sd_scripts", "same sd-scripts"), ("manifest", "same dataset")):
        mine = Facts(**{**head.__dict__, key: "x" * 40})
        bad = {c.name: c for c in compare_with_head(mine, head)}
        assert bad[name].ok is False and "head-host" in bad[name].detail and bad[name].fix
        assert all(c.ok for n, c in bad.items() if n != name)


def test_a_dataset_without_manifest_never_counts_as_the_same():
    none = Facts("p", "c", None)
    assert {c.name: c.ok for c in compare_with_head(none, none)}["same dataset"] is False


def test_an_unreachable_head_is_one_line_after_a_bounded_wait():
    port = free_port()  # nothing listens there
    c = check_reachable_head("127.0.0.1", port, wait_s=1.0, clock=Clock(0.6))
    assert (
        c.ok is False and f"127.0.0.1:{port} did not answer within 1 s" in c.detail and "\n" not in c.detail
    )


def test_two_machines_sharing_the_run_directory_shake_hands(tmp_path):
    port = free_port()
    head_facts = Facts("plan", "commit", "manifest", "head")
    gate = HeadGate(tmp_path, port, 2)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("head", gate.wait_for_ranks(head_facts, wait_s=30)))
    t.start()
    reach = check_reachable_head("127.0.0.1", port, wait_s=30)
    shared, seen = join_head(tmp_path, 1, wait_s=30)
    t.join(30)
    assert reach.ok and shared.ok and result["head"].ok
    assert seen == head_facts
    data = json.loads((tmp_path / HANDSHAKE_DIR / HEAD_FILE).read_text())
    assert set(data["ranks"]) == {"1"}


def test_a_machine_with_its_own_run_directory_is_told_so(tmp_path):
    """The head answers on its port, but this machine's run directory is not the head's."""
    head_dir, own_dir = tmp_path / "head", tmp_path / "elsewhere"
    port = free_port()
    gate = HeadGate(head_dir, port, 2)
    t = threading.Thread(target=lambda: gate.wait_for_ranks(Facts("p", "c", "m"), wait_s=3))
    t.start()
    assert check_reachable_head("127.0.0.1", port, wait_s=10).ok
    shared, facts = join_head(own_dir, 1, wait_s=1.0, clock=Clock(0.3))
    t.join(30)
    assert shared.ok is False and facts is None and "output_dir" in shared.fix


def test_the_head_names_missing_ranks_after_its_bounded_wait(tmp_path):
    (tmp_path / HANDSHAKE_DIR).mkdir()
    (tmp_path / HANDSHAKE_DIR / "rank-2.json").write_text(
        json.dumps({"token": "stale"})
    )  # an earlier launch's
    gate = HeadGate(tmp_path, free_port(), 3)  # clears it at the start
    c = gate.wait_for_ranks(Facts("p", "c", "m"), wait_s=1.0, clock=Clock(0.4))
    assert c.ok is False and "[1, 2]" in c.detail and not (tmp_path / HANDSHAKE_DIR / HEAD_FILE).exists()


def test_a_stale_head_file_of_an_earlier_launch_is_not_taken_for_this_one(tmp_path):
    d = tmp_path / HANDSHAKE_DIR
    d.mkdir()
    (d / HEAD_FILE).write_text(json.dumps({"plan": "old", "ranks": {"1": "old-token"}}))
    shared, facts = join_head(tmp_path, 1, wait_s=1.0, clock=Clock(0.3))
    assert shared.ok is False and facts is None


def test_a_taken_port_on_the_head_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(OSError) as e:
            HeadGate(tmp_path, port, 2)
    assert f"port {port}" in str(e.value) and "main_process_port" in str(e.value)


def test_a_dataset_folder_is_shared_only_when_the_heads_mark_names_this_machine(tmp_path):
    data, elsewhere = tmp_path / "data", tmp_path / "copy"
    data.mkdir()
    elsewhere.mkdir()
    port = free_port()
    gate = HeadGate(tmp_path / "run", port, 2)
    t = threading.Thread(target=lambda: gate.wait_for_ranks(Facts("p", "c", "m"), wait_s=30, also=(data,)))
    t.start()
    assert check_reachable_head("127.0.0.1", port, wait_s=30).ok
    shared, _ = join_head(tmp_path / "run", 1, wait_s=30, token="tok-1")
    t.join(30)
    assert shared.ok and (data / SHARED_MARK).exists()
    assert check_shared_dataset(data, 1, "tok-1").ok
    assert check_shared_dataset(data, 1, "another-launch").ok is False
    bad = check_shared_dataset(elsewhere, 1, "tok-1")
    assert bad.ok is False and "cache_latents_to_disk" in bad.fix


def two_machine_cfg(port: int, caching: bool = True):
    from ascii_lora.config.models import ExperimentConfig

    return ExperimentConfig.model_validate(
        {
            "cluster": {"num_machines": 2, "main_process_ip": "127.0.0.1", "main_process_port": port},
            "training": {"cache_latents_to_disk": caching, "cache_text_encoder_outputs": caching},
        }
    )


def handshake(tmp_path, head_facts: Facts, own_facts: Facts, caching: bool = True):
    from ascii_lora.train.cluster_preflight import machine_handshake

    port = free_port()
    cfg = two_machine_cfg(port, caching)
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    out = {}
    t = threading.Thread(
        target=lambda: out.setdefault(
            0, machine_handshake(cfg, 0, None, tmp_path, data, lambda: head_facts, 30)
        )
    )
    t.start()
    out[1] = machine_handshake(cfg, 1, "127.0.0.1", tmp_path, data, lambda: own_facts, 30)
    t.join(30)
    return out


def test_a_two_machine_handshake_passes_every_line_when_all_agree(tmp_path):
    f = Facts("plan", "commit", "manifest", "h")
    out = handshake(tmp_path, f, f)
    assert [c.name for c in out[0]] == ["machines joined"] and out[0][0].ok
    assert [c.name for c in out[1]] == [
        "reachable head",
        "shared run directory",
        "shared dataset folder",
        "same plan",
        "same sd-scripts",
        "same dataset",
    ]
    assert all(c.ok for c in out[1])


def test_another_plan_on_the_second_machine_fails_its_same_plan_line(tmp_path):
    out = handshake(
        tmp_path,
        Facts("plan", "commit", "manifest", "h"),
        Facts("other", "commit", "manifest"),
        caching=False,
    )
    lines = {c.name: c.ok for c in out[1]}
    assert lines["same plan"] is False and lines["same sd-scripts"] and "shared dataset folder" not in lines


def test_a_lone_machine_has_no_cluster_lines(tmp_path):
    from ascii_lora.config.models import ExperimentConfig
    from ascii_lora.train.cluster_preflight import machine_handshake

    assert (
        machine_handshake(ExperimentConfig(), 0, None, tmp_path, tmp_path, lambda: Facts("p", "c", "m")) == []
    )
