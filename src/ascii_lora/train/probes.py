"""Probing the machine: GPUs, installed modules, the submodule's commit, free disk.

Everything here asks the real machine; preflight.py only judges the answers. Tests hand
``Probes`` their own answers, so the whole pre-flight runs on a CPU box.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .kohya.plan import SD_SCRIPTS_DIR

GIB = 1024**3


@dataclass
class Gpu:
    name: str
    total_gib: float


@dataclass
class Probes:
    """What the machine offers. The defaults look at the real machine; tests pass their own."""

    gpus: list[Gpu] | None = None  # None: ask torch / nvidia-smi
    torch_cuda: bool | None = None
    modules: dict[str, bool] = field(default_factory=dict)
    submodule_head: str | None = None
    free_bytes: int | None = None
    parse_argv: bool = True

    def has_module(self, name: str) -> bool:
        if name not in self.modules:
            self.modules[name] = importlib.util.find_spec(name) is not None
        return self.modules[name]

    def cuda(self) -> tuple[bool, list[Gpu], str]:
        """(torch sees CUDA, GPUs, how we know)."""
        if self.gpus is not None:
            return bool(self.torch_cuda), self.gpus, "given"
        if self.has_module("torch"):
            try:
                import torch  # only on a training machine

                if torch.cuda.is_available():
                    gpus = [
                        Gpu(
                            torch.cuda.get_device_name(i),
                            torch.cuda.get_device_properties(i).total_memory / GIB,
                        )
                        for i in range(torch.cuda.device_count())
                    ]
                    return True, gpus, "torch"
            except Exception:  # noqa: BLE001 - a broken torch install reads as "torch cannot use CUDA"
                pass
        smi = shutil.which("nvidia-smi")
        if smi:
            try:
                out = subprocess.run(
                    [smi, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                    capture_output=True,
                    text=True,
                    timeout=20,
                    check=True,
                ).stdout
                gpus = [
                    Gpu(n.strip(), float(m) / 1024)
                    for n, m in (line.rsplit(",", 1) for line in out.strip().splitlines())
                ]
                return False, gpus, "nvidia-smi"
            except (subprocess.SubprocessError, ValueError, OSError):
                pass
        return False, [], "none"

    def head(self, root: Path) -> str | None:
        if self.submodule_head is not None:
            return self.submodule_head or None
        try:
            return subprocess.run(
                ["git", "-C", str(root / SD_SCRIPTS_DIR), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            ).stdout.strip()
        except (subprocess.SubprocessError, OSError):
            return None

    def free(self, path: Path) -> int:
        if self.free_bytes is not None:
            return self.free_bytes
        p = path
        while not p.exists():
            p = p.parent
        return shutil.disk_usage(p).free
