"""The seam between trainers: what `plan`, `train`, `stop` and `setup-train` ask of a trainer.

``[trainer] kind`` names one; ``registry.trainer_for`` hands back its implementation (kohya/,
simpletuner/), so no caller branches on the kind. Each method owns its trainer's policies: which
resume it refuses, when an exit code of 0 is still a failure, how its run stops.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..config.models import ExperimentConfig
from .preflight import Check
from .segments import Adoption


class TrainerPlan(Protocol):
    """What every trainer's plan shares: where it runs and the command it runs."""

    run_dir: Path
    argv: list[str]

    def shell(self) -> str: ...


class Trainer(Protocol):
    kind: str  # the [trainer] kind value
    label: str  # how the user knows it: "sd-scripts", "SimpleTuner"

    def plan(
        self,
        cfg: ExperimentConfig,
        root: Path,
        run_dir: Path | None,
        resume: bool | None,
        machine: Any = None,
    ) -> Any:
        """The pure plan (``resume`` None: as ``[training] resume`` says; ``machine``: cluster_run.Machine
        whose argv it is, the head's when None)."""
        ...

    def refuse_resume(self, cfg: ExperimentConfig, plan: Any, asked: str) -> None:
        """Raises UserError when the resume ``asked`` names (--resume, RESUME=1, ...) cannot be honoured."""
        ...

    def resume_warnings(self, cfg: ExperimentConfig, run_dir: Path) -> list[str]:
        """What a resume will skip over and the user should know (half-written saves)."""
        ...

    def write_plan(self, plan: Any, root: Path) -> list[Path]: ...

    def preflight(self, cfg: ExperimentConfig, plan: Any, root: Path, probes: Any = None) -> list[Check]: ...

    def adopt_leftovers(self, cfg: ExperimentConfig, run_dir: Path) -> list[Adoption]:
        """Tidy what a killed launch left behind, before anything is planned."""
        ...

    def cluster_checks(
        self,
        cfg: ExperimentConfig,
        plans: dict,
        root: Path,
        machine: Any,
        replan: Callable[[Any], Any],
        sd_scripts: str | None,
    ) -> list[Check]:
        """Several machines: the handshake lines of this machine's pre-flight ([] on one machine).
        ``plans`` holds "head" and "mine" and is updated when a machine plans again after the head."""
        ...

    def launch(
        self,
        cfg: ExperimentConfig,
        plan: Any,
        root: Path,
        log: Path,
        echo: Callable[[str], None],
        argv: list[str] | None = None,
        machine: Any = None,
        plans: dict | None = None,
        samples: Callable[[int], str] | None = None,
    ) -> tuple[int, Adoption | None]:
        """Run the trainer to its end: its exit code and what was renumbered into the run. ``samples``: a
        cumulative step's check verdicts, for the messages a trainer sends while it runs (kohya)."""
        ...

    def failure(self, plan: Any, code: int, log: Path) -> str | None:
        """Acceptance: why a run that exited ``code`` still failed, None when it did not."""
        ...

    def final_lora(self, cfg: ExperimentConfig, run_dir: Path) -> Path:
        """Output naming: where the finished run's LoRA is."""
        ...

    def request_stop(self, cfg: ExperimentConfig, run_dir: Path) -> Any: ...

    def cancel_stop(self, cfg: ExperimentConfig, run_dir: Path) -> bool: ...

    def setup(self, cfg: ExperimentConfig, root: Path, say: Callable[[str], None], skip_install: bool) -> str:
        """Install what the trainer needs; returns the line that says what to run next."""
        ...
