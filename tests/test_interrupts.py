"""Interruptions, locks and other users: what a killed, doubled or unprivileged run leaves behind.

- `dataset` killed by SIGINT/SIGTERM/SIGKILL (the whole process group, or the run alone) leaves
  no process behind, no PNG without its caption, and a re-run gives exactly the bytes of a run
  that was never interrupted;
- a second `dataset` into a folder in use is refused with the holder's pid;
- files are written with the umask's mode, so a trainer running as another user reads them,
  and unwritable targets are one line naming the path when we are not root;
- the launcher turns one Ctrl-C into exactly one signal to the trainer, never a second one of
  its own, and says how many steps since the last saved state are lost.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ascii_lora.train.launcher import interruption_report

from .fakes import ctrl_c_as_in_a_terminal
from .test_bad_inputs import cli, tree

ROOT = Path(__file__).resolve().parents[1]
COUNT = 300  # 1024 px images: long enough (~0.5 s on 2 workers) to be stopped halfway


def _env(home: Path) -> dict:
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    env.pop("RESUME", None)
    return env


def _dataset(cwd: Path, *extra: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ascii_lora",
            "dataset",
            "--out",
            "data",
            "--count",
            str(COUNT),
            "--workers",
            "2",
            *extra,
        ],
        cwd=cwd,
        env=_env(cwd),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=ctrl_c_as_in_a_terminal,
        **popen,
    )


def _group(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, read from /proc."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            pids.append(int(stat.parent.name))
    return pids


def _wait_for(predicate, timeout: float = 60.0, step: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("uninterrupted")
    r = cli("dataset", "--out", "data", "--count", str(COUNT), "--workers", "2", cwd=d)
    assert r.returncode == 0, r.stderr
    return tree(d / "data")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find left-over processes")
@pytest.mark.parametrize(
    "sig,whole_group",
    [
        (signal.SIGINT, True),  # Ctrl-C in a terminal
        (signal.SIGTERM, False),  # `kill PID`
        (signal.SIGTERM, True),
        (signal.SIGKILL, False),  # `kill -9 PID`: the workers must notice on their own
        (signal.SIGKILL, True),
    ],
    ids=["sigint-group", "sigterm-run", "sigterm-group", "sigkill-run", "sigkill-group"],
)
def test_interrupted_dataset_leaves_no_orphan_and_completes_byte_identical(
    tmp_path, uninterrupted, sig, whole_group
):
    proc = _dataset(tmp_path)
    assert _wait_for(lambda: any((tmp_path / "data").glob("*.png")) or proc.poll() is not None)
    (os.killpg if whole_group else os.kill)(proc.pid, sig)
    _, err = proc.communicate(timeout=180)  # generous: a loaded 2-core box is slow to reap workers
    assert "Traceback" not in err, err
    expected = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -9}[sig]
    assert proc.returncode == expected, err  # stopped halfway: 300 images take far longer than one poll
    assert json.loads((tmp_path / "data" / "manifest.json").read_text())["status"] == "incomplete"
    assert _wait_for(lambda: not _group(proc.pid), timeout=10, step=0.05), f"orphans left: {_group(proc.pid)}"

    data = tmp_path / "data"
    for png in data.glob("*.png"):  # Kohya must never find an image without its caption
        assert png.with_suffix(".txt").is_file() and png.with_suffix(".ascii").is_file(), png.name
    again = cli("dataset", "--out", "data", "--count", str(COUNT), "--workers", "2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert tree(data) == uninterrupted


def _holder(lock: Path) -> str:
    try:
        return lock.read_text().strip()
    except FileNotFoundError:
        return ""


def test_second_run_into_a_folder_in_use_names_the_holder_and_changes_nothing(tmp_path):
    first = _dataset(tmp_path, "--workers", "1", "--count", "20000")  # stopped below long before it ends
    lock = tmp_path / "data" / ".ascii-lora.lock"
    try:
        assert _wait_for(lambda: _holder(lock) or first.poll() is not None)
        if first.poll() is not None:
            pytest.skip("the first run finished before the second could start")
        before = tree(tmp_path / "data")
        second = cli("dataset", "--out", "data", "--count", str(COUNT), cwd=tmp_path)
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert f"pid {first.pid}" in second.stderr and "in use" in second.stderr
        after = tree(tmp_path / "data")
        assert all(
            after.get(k) == v for k, v in before.items() if k.endswith((".txt", ".ascii", ".png")) and v
        ), "the refused run must not touch the folder"
    finally:
        os.killpg(first.pid, signal.SIGINT)
        first.communicate(timeout=60)


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["umask-022", "umask-027"])
def test_written_files_get_the_umask_mode_not_0600(tmp_path, umask):
    r = subprocess.run(
        [sys.executable, "-m", "ascii_lora", "dataset", "--out", "data", "--count", "2", "--workers", "1"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(umask),
    )
    assert r.returncode == 0, r.stderr
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "data").iterdir()}
    assert modes and set(modes.values()) == {0o666 & ~umask}, modes


# -- as a user who is not root ----------------------------------------------------------------------------------------

NOBODY = 65534


def _unprivileged() -> list[str]:
    """A command prefix that runs as a non-root user, or a skip saying why there is none."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("running as root and setpriv is not installed: cannot drop privileges")
    prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import ascii_lora"],
        capture_output=True,
        text=True,
        env=_env(Path("/")),
    )
    if probe.returncode:
        pytest.skip(f"user {NOBODY} cannot import the project from here: {probe.stderr.strip()[-200:]}")
    return prefix


@pytest.fixture(scope="module")
def shared_place():
    """A folder every user can enter: a dataset written by root, a read-only folder, a config."""
    base = Path(tempfile.mkdtemp(prefix="ascii-lora-users-"))
    try:
        base.chmod(0o755)
        (base / "exp.toml").write_text("[dataset]\nresolution = 384\n[training]\nresolution = 384\n")
        (base / "exp.toml").chmod(0o644)
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "ascii_lora",
                "dataset",
                "--config",
                "exp.toml",
                "--out",
                "data",
                "--count",
                "2",
                "--workers",
                "1",
            ],
            cwd=base,
            env=_env(base),
            capture_output=True,
            text=True,
            preexec_fn=lambda: os.umask(0o022),
        )
        assert r.returncode == 0, r.stderr
        (base / "ro").mkdir(mode=0o555)
        (base / "ro").chmod(0o555)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize(
    "argv,names",
    [
        (["validate", "data"], None),  # written by root, read by another user: the modes allow it
        (["dataset", "--out", "ro/data", "--count", "1"], "ro/data"),
        (["plan", "--run-dir", "ro/run"], "ro/run"),
        (["preview", "data", "--out", "ro/sheet.png"], "ro/sheet.png"),
        (["check", "data/dungeon_00000.png", "--json", "ro/r.json"], "ro/r.json"),
        (["snap", "data/dungeon_00000.png", "--out", "ro/snapped"], "ro/snapped"),
    ],
    ids=["validate-others-files", "dataset-ro", "plan-ro", "preview-ro", "check-json-ro", "snap-ro"],
)
def test_as_another_user(shared_place, argv, names):
    prefix = _unprivileged()
    r = subprocess.run(
        [*prefix, sys.executable, "-m", "ascii_lora", *argv, "--config", "exp.toml"],
        cwd=shared_place,
        env=_env(shared_place),
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out
    if names is None:
        assert r.returncode == 0, out
    else:
        assert r.returncode == 2, out
        assert names in out and "permission denied" in out, out


# -- the launcher and Ctrl-C --------------------------------------------------------------------------------------------

RUNNER = """
import sys
from pathlib import Path
from ascii_lora.train.launcher import launch
sys.exit(launch([sys.executable, "-c", sys.argv[1], *sys.argv[3:]], Path(sys.argv[2]), Path(sys.argv[2]) / "train.log"))
"""

COUNTING_TRAINER = """
import signal, sys, time
from pathlib import Path
seen = Path(sys.argv[1])
def count(signum, frame):
    seen.write_text(str(int(seen.read_text() or 0) + 1) if seen.exists() else "1")
signal.signal(signal.SIGINT, count)
print('ready', flush=True)
end = time.time() + 6  # longer than the 5 s after which the old launcher sent a second SIGINT of its own
while time.time() < end:
    time.sleep(0.05)
sys.exit(0)
"""


def _launcher(tmp_path: Path, trainer: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, trainer, str(tmp_path), *args],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(tmp_path),
        preexec_fn=ctrl_c_as_in_a_terminal,
    )


def _ready(tmp_path: Path, word: str = "ready") -> bool:
    """The trainer printed a line ending in ``word`` (the log's header line holds the trainer's source
    text, where the word sits inside a print call, so a plain substring test would fire at once)."""
    log = tmp_path / "train.log"
    return _wait_for(
        lambda: log.exists() and any(line.rstrip().endswith(word) for line in log.read_text().splitlines()),
        timeout=30,
        step=0.05,
    )


@pytest.mark.parametrize("to_group", [True, False], ids=["terminal-ctrl-c", "kill-int-launcher"])
def test_one_ctrl_c_is_exactly_one_signal_to_the_trainer(tmp_path, to_group):
    seen = tmp_path / "sigints"
    proc = _launcher(tmp_path, COUNTING_TRAINER, str(seen))
    assert _ready(tmp_path)
    # a terminal's Ctrl-C goes to the launcher's whole foreground group; `kill -INT` to the launcher alone
    (os.killpg if to_group else os.kill)(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert seen.read_text() == "1", "the trainer must get the user's one SIGINT and no other"
    assert proc.returncode == 130
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["interrupted"] is True
    assert "stopped before the first training step" in out


STEPPING_TRAINER = """
import os, sys, time
run = sys.argv[1]
print('steps:   0%|          | 0/300 [00:00<?, ?it/s]', flush=True)
print('steps:  10%|#         | 30/300 [00:03<00:27, 10it/s]', flush=True)
os.mkdir(os.path.join(run, 'flux-step00000020-state'))
print('steps:  12%|#         | 37/300 [00:04<00:27, 10it/s] ready', flush=True)
time.sleep(60)  # no Ctrl-C handler, like sd-scripts at the pinned commit: KeyboardInterrupt ends it
"""


def test_ctrl_c_reports_the_steps_since_the_last_saved_state(tmp_path):
    proc = _launcher(
        tmp_path, STEPPING_TRAINER, str(tmp_path), "--output_name", "flux", "--save_every_n_steps", "20"
    )
    assert _ready(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130  # the trainer died of its KeyboardInterrupt, as a shell reports it
    assert (
        "stopped at step 37" in out
        and "flux-step00000020-state" in out
        and "17 step(s) since then are lost" in out
    )
    assert "17 step(s) since then are lost" in (tmp_path / "train.log").read_text()


def test_interruption_report_wording():
    assert "nothing was lost" in interruption_report(None, [], "500")
    assert interruption_report(120, [], "500") == (
        "stopped at step 120 before this run saved any state (one is saved every 500 steps): these 120 step(s) are lost"
    )
    assert "RESUME=1" in interruption_report(510, [(500, "x-step00000500-state")], "500")
    assert "10 step(s) since then are lost" in interruption_report(510, [(250, "a"), (500, "b")], "250")


def test_caption_and_ground_truth_are_in_place_before_the_png_appears(tmp_path, monkeypatch):
    """A SIGKILL between two renames must never leave a PNG that Kohya would train uncaptioned."""
    from ascii_lora.config.models import DatasetConfig
    from ascii_lora.dataset import writer

    order: list[str] = []
    real = writer.atomic_write
    monkeypatch.setattr(
        writer, "atomic_write", lambda path, data: (order.append(Path(path).suffix), real(path, data))
    )
    writer._write_one(DatasetConfig(resolution=384).model_dump_json(), str(tmp_path), "maze", 0)
    assert order == [".txt", ".ascii", ".png"]
