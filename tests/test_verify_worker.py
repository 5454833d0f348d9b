"""The drawing worker's job loop (without torch) and the process boundary around it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from ascii_lora.config.models import ExperimentConfig, HardwareConfig, VerifyConfig
from ascii_lora.verify import draw_worker
from ascii_lora.verify.draw_worker import EVENT_PREFIX, run_jobs, t5_layers
from ascii_lora.verify.drawing import WorkerProcess, choose_precision, clear_stale, worker_spec
from ascii_lora.verify.jobs import Checkpoint, Settings, build_jobs

from .verify_helpers import noise_picture, save_like_sd_scripts


def jobs_in(tmp_path: Path, n: int = 3) -> list[dict]:
    return [
        {"out": str(tmp_path / "ck" / f"p00_s{i:04d}.png"), "record": {"seed": i}, "seed": i}
        for i in range(n)
    ]


def drawing(calls: list):
    def draw(job, folder):
        calls.append(job["seed"])
        save_like_sd_scripts(folder, noise_picture(job["seed"]))

    return draw


def test_each_job_ends_as_its_png_and_then_its_record(tmp_path):
    events, calls = [], []
    assert run_jobs(jobs_in(tmp_path), drawing(calls), events.append) == 3
    for i in range(3):
        png = tmp_path / "ck" / f"p00_s{i:04d}.png"
        assert png.stat().st_size > 0
        assert json.loads(png.with_name(png.stem + ".job.json").read_text()) == {"seed": i}
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == sorted(
        [f"p00_s{i:04d}.png" for i in range(3)] + [f"p00_s{i:04d}.job.json" for i in range(3)]
    ), "no temp files left"
    assert [e["event"] for e in events] == ["drawn"] * 3 and [e["index"] for e in events] == [0, 1, 2]


def test_drawn_jobs_are_skipped_and_changed_ones_redrawn(tmp_path):
    run_jobs(jobs_in(tmp_path), drawing([]), lambda e: None)
    jobs = jobs_in(tmp_path)
    jobs[1]["record"] = {"seed": 1, "steps": 28}
    calls, events = [], []
    run_jobs(jobs, drawing(calls), events.append)
    assert calls == [1]
    assert [e["event"] for e in events] == ["skipped", "drawn", "skipped"]


def test_a_crash_mid_picture_leaves_neither_picture_nor_record(tmp_path):
    def draw(job, folder):
        (folder / "half.png").write_bytes(b"\x89PNG half")
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(RuntimeError):
        run_jobs(jobs_in(tmp_path, 1), draw, lambda e: None)
    assert list((tmp_path / "ck").iterdir()) == []


@pytest.mark.parametrize("count", [0, 2])
def test_a_sampler_that_leaves_no_or_two_pictures_is_an_error_not_a_guess(tmp_path, count):
    def draw(job, folder):
        for k in range(count):
            (folder / f"{k}.png").write_bytes(b"x")

    with pytest.raises(RuntimeError, match=f"left {count} PNG"):
        run_jobs(jobs_in(tmp_path, 1), draw, lambda e: None)
    assert not (tmp_path / "ck" / "p00_s0000.png").exists()


def test_t5_layer_count_is_read_from_the_file_header(tmp_path):
    keys = {
        f"encoder.block.{i}.layer.0.SelfAttention.q.weight": np.zeros((1, 1), np.float16) for i in range(2)
    }
    save_file({**keys, "shared.weight": np.zeros((1, 1), np.float16)}, str(tmp_path / "t5.safetensors"))
    assert t5_layers(str(tmp_path / "t5.safetensors")) == 2


def test_the_worker_module_imports_only_the_standard_library():
    """It is imported (and its job loop tested) where torch is absent; torch and sd-scripts load in FluxDrawer."""
    import ast

    tree = ast.parse(Path(draw_worker.__file__).read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    assert names and names <= set(sys.stdlib_module_names) | {"__future__"}


def test_precision_follows_the_vram_profile_unless_set():
    assert choose_precision(ExperimentConfig(hardware=HardwareConfig(vram_profile="48gb+"))).name == "bf16"
    fp8 = choose_precision(ExperimentConfig())
    assert (fp8.name, fp8.dtypes["flux"], fp8.offload) == ("fp8", "fp8", True)
    forced = choose_precision(ExperimentConfig(verify=VerifyConfig(precision="bf16")))
    assert (forced.name, forced.dtypes["flux"], forced.offload) == ("bf16", None, False)
    cpu = choose_precision(ExperimentConfig(verify=VerifyConfig(precision="fp32")))
    assert (cpu.name, cpu.dtypes["base"], cpu.dtypes["flux"], cpu.offload) == ("fp32", "fp32", None, False)


def test_spec_points_at_absolute_models_and_the_offline_tokenizer_cache(tmp_path):
    cfg = ExperimentConfig()
    settings = Settings(1024, 1024, 20, 3.5, 1.0, "fp8")
    jobs = build_jobs([Checkpoint("baseline", 0, None)], ["p"], [0], settings, tmp_path / "v", {})
    spec = worker_spec(cfg, tmp_path, jobs, settings, choose_precision(cfg), None)
    assert spec["tokenizer_cache_dir"] == str((tmp_path / "models" / "tokenizers").resolve())
    assert spec["models"]["flux"] == str((tmp_path / "models" / "flux1-dev.safetensors").resolve())
    assert spec["sd_scripts"] == str((tmp_path / "vendor" / "sd-scripts").resolve())
    assert spec["device"] is None and spec["offload"] is True
    assert spec["jobs"][0]["out"] == str(tmp_path / "v" / "baseline" / "p00_s0000.png")


FAKE_WORKER = textwrap.dedent(f"""
    import json, os, sys
    spec = json.load(open(sys.argv[1]))
    print("sd-scripts says hello", flush=True)
    print("a log line on stderr", file=sys.stderr, flush=True)
    print({EVENT_PREFIX!r} + json.dumps({{"event": "env", "cwd": os.getcwd(), "hf": os.environ.get("HF_HUB_OFFLINE"),
          "tf": os.environ.get("TRANSFORMERS_OFFLINE"), "jobs": len(spec["jobs"])}}), flush=True)
    print({EVENT_PREFIX!r} + "not json", flush=True)
    if spec.get("fail"):
        print({EVENT_PREFIX!r} + json.dumps({{"event": "error", "message": "OutOfMemoryError: CUDA"}}), flush=True)
        sys.exit(1)
    sys.exit(spec.get("exit", 0))
""")


@pytest.fixture
def worker(tmp_path):
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    (tmp_path / "sd").mkdir()
    return WorkerProcess(
        tmp_path / "state" / "jobs.json", tmp_path / "draw.log", python=sys.executable, worker=script
    )


def test_the_worker_runs_offline_from_sd_scripts_with_the_spec_file(worker, tmp_path):
    events = []
    code = worker({"sd_scripts": str(tmp_path / "sd"), "jobs": [1, 2]}, events.append)
    assert code == 0
    assert events == [{"event": "env", "cwd": str(tmp_path / "sd"), "hf": "1", "tf": "1", "jobs": 2}]
    assert json.loads((tmp_path / "state" / "jobs.json").read_text())["jobs"] == [1, 2]
    log = (tmp_path / "draw.log").read_text()
    assert "sd-scripts says hello" in log and "a log line on stderr" in log
    assert worker.argv()[1:3] == ["-u", str(tmp_path / "fake_worker.py")]


def test_the_workers_error_and_exit_code_come_back(worker, tmp_path):
    events = []
    assert worker({"sd_scripts": str(tmp_path / "sd"), "jobs": [], "fail": True}, events.append) == 1
    assert worker.last_error == "OutOfMemoryError: CUDA"
    worker.last_error = None
    assert worker({"sd_scripts": str(tmp_path / "sd"), "jobs": [], "exit": 3}, events.append) == 3
    assert worker.last_error == "the drawing worker exited with code 3"


def test_stale_temp_folders_of_a_killed_worker_are_cleared(tmp_path):
    (tmp_path / ".ascii-lora-tmp-abc_1234").mkdir()  # named as mkdtemp/mkstemp name them
    (tmp_path / ".ascii-lora-tmp-abc_1234" / "x.png").write_bytes(b"x")
    (tmp_path / ".ascii-lora-tmp-def56789").write_bytes(b"x")
    (tmp_path / "p00_s0000.png").write_bytes(b"keep")
    clear_stale([tmp_path, tmp_path / "absent"])
    assert [p.name for p in tmp_path.iterdir()] == ["p00_s0000.png"]


SD_SCRIPTS = Path(__file__).resolve().parents[1] / "vendor" / "sd-scripts" / "flux_minimal_inference.py"


@pytest.mark.skipif(
    not SD_SCRIPTS.exists(), reason="vendor/sd-scripts is not checked out (git submodule update --init)"
)
def test_the_worker_sets_every_global_that_generate_image_reads():
    """generate_image() reads names its script assigns only under __main__; one unset name is a
    NameError after a minute of model loading, so the pinned source is read here instead."""
    import ast
    import builtins

    tree = ast.parse(SD_SCRIPTS.read_text())
    top = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            top |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign):
            top |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "generate_image")
    local = {a.arg for a in fn.args.args}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            local.add(node.id)
        elif isinstance(node, ast.FunctionDef):
            local |= {node.name, *(a.arg for a in node.args.args)}
    read = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    assert read - local - top - set(dir(builtins)) == draw_worker.GENERATE_IMAGE_GLOBALS


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_worker_whose_command_is_killed_outright_stops_drawing(tmp_path):
    """`verify` killed with SIGKILL cannot stop its worker; the kernel must, or it holds the GPU on."""
    pid_file = tmp_path / "worker.pid"
    worker = (
        f"import sys, time, os; sys.path.insert(0, {str(Path(draw_worker.__file__).parent)!r}); import draw_worker; "
        f"draw_worker.die_with_parent(); open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    )
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {worker!r}]); time.sleep(120)",
        ]
    )
    try:
        deadline = time.monotonic() + 120  # two interpreters start: slow on a loaded box, never a verdict
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(pid_file.read_text())
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the worker outlived the command that started it"
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_the_worker_ties_itself_to_its_command_before_loading_any_model(tmp_path, monkeypatch):
    order = []
    monkeypatch.setattr(draw_worker, "die_with_parent", lambda: order.append("tied"))

    class Loads:
        def __init__(self, spec):
            order.append("loading")
            raise RuntimeError("no GPU here")

    monkeypatch.setattr(draw_worker, "FluxDrawer", Loads)
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps({"jobs": []}))
    assert draw_worker.main([str(spec)]) == 1
    assert order == ["tied", "loading"]
