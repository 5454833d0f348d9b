"""Pre-flight on each machine of a cluster: the same plan, trainer and data everywhere, a shared run
directory, and a head that answers, each one line, before any model loads.

Why each: DDP averages gradients of whatever each process computes, so a machine with another
plan, another sd-scripts or another dataset would not crash, it would silently train something
else. sd-scripts writes checkpoints, states and samples from the main process only
(train_network.py:1495-1500, 1689-1725 at the pin), so every machine must see the run directory
the head writes into; and a head that cannot be dialled would leave the others waiting in
torch's rendezvous for half an hour, so it is dialled here, with a bounded wait.

The handshake (several machines only), all through the shared run directory:
  1. the head (rank 0) clears old handshake files and listens on main_process_port;
  2. each other machine dials that address and port (reachable head), then writes its token;
  3. the head, once every rank's token is there, writes ``head.json`` with the tokens and its
     facts (plan hash, sd-scripts commit, dataset manifest hash) and closes the port for torch;
  4. each other machine waits for ``head.json`` listing its own token (shared run directory) and
     compares the head's facts with its own.
Tokens are random per launch, so a file left from an earlier launch proves nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config.models import ExperimentConfig
from ..dataset.writer import CLUSTER_MARK
from ..fsutil import atomic_write
from .preflight import Check

HANDSHAKE_DIR = ".cluster"  # inside the run directory
HEAD_FILE = "head.json"
# the head's copy of head.json in another folder that must be shared (the dataset writer knows it as ours)
SHARED_MARK = CLUSTER_MARK
PLAN_HASHED = (
    "dataset_config.toml",
    "sample_prompts.txt",
    "train.args.json",
    "config.resolved.toml",
    "accelerate_config.yaml",
)
WAIT_S = 600.0  # machines of one job start minutes apart at most; past this, one line instead of a hang
POLL_S = 0.5


def plan_digest(files: dict[str, str]) -> str:
    """sha256 over the plan files that decide training (names and texts), in a fixed order.

    train.sh and train.sbatch are left out: they name this machine's Python and are not what the
    trainer reads. The argv is the head's (machine rank 0) on every machine, so it compares equal.
    """
    h = hashlib.sha256()
    for name in sorted(n for n in files if n in PLAN_HASHED):
        h.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return h.hexdigest()


def manifest_digest(image_dir: Path) -> str | None:
    """sha256 of the dataset's manifest.json (it hashes every image and caption), None without one."""
    path = Path(image_dir) / "manifest.json"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class Facts:
    """What every machine must agree on."""

    plan: str
    sd_scripts: str | None
    manifest: str | None
    host: str = ""


def compare_with_head(mine: Facts, head: Facts) -> list[Check]:
    """One check per fact: this machine's against the head's."""
    out = []
    for name, key, fix in (
        (
            "same plan",
            "plan",
            "run `ascii-lora plan` from the same config and checkout path on every machine",
        ),
        ("same sd-scripts", "sd_scripts", "check out vendor/sd-scripts at the same commit everywhere"),
        (
            "same dataset",
            "manifest",
            "copy the head's dataset (or share it) so every machine trains the same images",
        ),
    ):
        a, b = getattr(mine, key), getattr(head, key)
        same = a == b and a is not None
        short = (a or "none")[:12]
        detail = (
            f"{short} here and on the head ({head.host})"
            if same
            else f"{short} here, {(b or 'none')[:12]} on the head ({head.host})"
        )
        out.append(Check(name, same, detail, "" if same else fix))
    return out


# -- the handshake -------------------------------------------------------------------------------


def _dir(run_dir: Path) -> Path:
    d = Path(run_dir) / HANDSHAKE_DIR
    d.mkdir(parents=True, exist_ok=True)
    return d


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class HeadGate:
    """The head's side: listen on the port and wait for every other machine's token."""

    def __init__(self, run_dir: Path, port: int, num_machines: int):
        self.dir, self.port, self.num_machines = _dir(run_dir), port, num_machines
        for old in [*self.dir.glob("rank-*.json"), self.dir / HEAD_FILE]:
            old.unlink(missing_ok=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind(("", port))
        except OSError as e:
            self.sock.close()
            raise OSError(
                f"port {port} on this machine (the head) is taken ({e.strerror}): stop what holds it or "
                "set [cluster] main_process_port"
            ) from None
        self.sock.listen(16)
        self.sock.settimeout(POLL_S)

    def _answer_dials(self) -> None:
        """Accept whoever dials (a reachability probe) and drop them once they hang up."""
        while True:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(1)
                except OSError:
                    pass

    def wait_for_ranks(
        self,
        facts: Facts,
        wait_s: float = WAIT_S,
        clock: Callable[[], float] = time.monotonic,
        also: tuple[Path, ...] = (),
    ) -> Check:
        """Bounded: every rank's token, then head.json (a copy in each folder of ``also`` that must be
        shared too); the port is closed for torch either way."""
        t0 = clock()
        want = set(range(1, self.num_machines))
        try:
            while True:
                tokens = {}
                for r in want:
                    data = _read_json(self.dir / f"rank-{r}.json")
                    if data and isinstance(data.get("token"), str):
                        tokens[r] = data["token"]
                if set(tokens) == want:
                    text = json.dumps({**asdict(facts), "ranks": tokens}, indent=1)
                    for folder in also:
                        atomic_write(Path(folder) / SHARED_MARK, text)
                    atomic_write(self.dir / HEAD_FILE, text)
                    return Check(
                        "machines joined", True, f"{len(want)} other machine(s) joined through {self.dir}"
                    )
                if clock() - t0 > wait_s:
                    missing = sorted(want - set(tokens))
                    return Check(
                        "machines joined",
                        False,
                        f"machine rank(s) {missing} did not join within {wait_s:.0f} s (nothing in {self.dir})",
                        "start train.sh on every machine; their run directory must be this one (a shared filesystem)",
                    )
                self._answer_dials()
        finally:
            self.sock.close()


def check_reachable_head(
    address: str, port: int, wait_s: float = WAIT_S, clock: Callable[[], float] = time.monotonic
) -> Check:
    """Dial the head's address and port until it answers or ``wait_s`` has passed: one line, never a hang."""
    t0 = clock()
    last = ""
    while True:
        try:
            with socket.create_connection((address, port), timeout=min(5.0, max(0.1, wait_s))):
                return Check("reachable head", True, f"{address}:{port} answered")
        except OSError as e:
            last = e.strerror or type(e).__name__
        if clock() - t0 > wait_s:
            return Check(
                "reachable head",
                False,
                f"{address}:{port} did not answer within {wait_s:.0f} s ({last})",
                "start train.sh on the head (rank 0) too, check [cluster] main_process_ip and the firewall",
            )
        time.sleep(POLL_S)


def join_head(
    run_dir: Path,
    rank: int,
    wait_s: float = WAIT_S,
    clock: Callable[[], float] = time.monotonic,
    token: str | None = None,
) -> tuple[Check, Facts | None]:
    """A non-head machine's side after the dial: write its token, wait for head.json naming it."""
    d = _dir(run_dir)
    token = token or secrets.token_hex(16)
    mine = d / f"rank-{rank}.json"
    t0 = clock()
    while True:
        if not mine.exists():  # written again if the head's start cleared it
            atomic_write(mine, json.dumps({"token": token, "host": socket.gethostname(), "pid": os.getpid()}))
        head = _read_json(d / HEAD_FILE)
        if head and head.get("ranks", {}).get(str(rank)) == token:
            facts = Facts(
                plan=str(head.get("plan") or ""),
                sd_scripts=head.get("sd_scripts"),
                manifest=head.get("manifest"),
                host=str(head.get("host") or ""),
            )
            return Check("shared run directory", True, f"{run_dir}: the head saw this machine's token"), facts
        if clock() - t0 > wait_s:
            return Check(
                "shared run directory",
                False,
                f"{run_dir}: the head (rank 0) answered but wrote no head.json naming this machine "
                f"within {wait_s:.0f} s",
                "put [training] output_dir on a filesystem every machine shares "
                "(sd-scripts saves from the head only)",
            ), None
        time.sleep(POLL_S)


def check_shared_dataset(image_dir: Path, rank: int, token: str) -> Check:
    """Several machines caching to disk need one dataset folder: each process caches its share of the
    images there (i % processes, train_util.py:1180-1185 and 1322-1327 at the pin) and later reads
    every image's cache, including those another machine wrote."""
    mark = _read_json(Path(image_dir) / SHARED_MARK)
    if mark and mark.get("ranks", {}).get(str(rank)) == token:
        return Check("shared dataset folder", True, f"{image_dir}: the head's mark names this machine")
    return Check(
        "shared dataset folder",
        False,
        f"{image_dir} is not the head's dataset folder: sd-scripts caches each machine's share of the latents "
        "and text encodings there and reads all of them on every machine",
        "put [dataset] out on a filesystem every machine shares, or set [training] cache_latents_to_disk = "
        "false and cache_text_encoder_outputs = false",
    )


def machine_handshake(
    cfg: ExperimentConfig,
    rank: int,
    head_ip: str | None,
    run_dir: Path,
    image_dir: Path,
    facts: Callable[[], Facts],
    wait_s: float = WAIT_S,
) -> list[Check]:
    """The cluster lines of one machine's pre-flight ([] on a lone machine); the head's first.

    ``facts`` is called on a non-head machine only after the head has written its plan (the shared
    run directory then holds the head's segment of a RESUME=1), so both plan the same launch.
    """
    c = cfg.cluster
    if not c.multi_machine:
        return []
    caching = cfg.training.cache_latents_to_disk or cfg.training.cache_text_encoder_outputs
    also = (Path(image_dir),) if caching else ()
    if rank == 0:
        try:
            gate = HeadGate(run_dir, c.main_process_port, c.num_machines)
        except OSError as e:
            return [Check("head port", False, str(e), "")]
        return [gate.wait_for_ranks(facts(), wait_s, also=also)]
    reach = check_reachable_head(str(head_ip), c.main_process_port, wait_s)
    if not reach.ok:
        return [reach]
    token = secrets.token_hex(16)
    shared, head = join_head(run_dir, rank, wait_s, token=token)
    checks = [reach, shared]
    if head is None:
        return checks
    if also:
        checks.append(check_shared_dataset(Path(image_dir), rank, token))
    return checks + compare_with_head(facts(), head)
