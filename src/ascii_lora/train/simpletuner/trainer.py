"""The ``Trainer`` for SimpleTuner: its own environment, its own checkpoints, no segments."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...config.models import ExperimentConfig
from ...errors import UserError
from .. import launcher
from ..preflight import Check
from ..segments import Adoption
from . import preflight
from .files import write_simpletuner_plan
from .install import setup_simpletuner
from .plan import LORA_FILE, SimpleTunerPlan, build_simpletuner_plan, finished_lora

NO_STOP = (
    "`ascii-lora stop` waits for sd-scripts' saved states; a SimpleTuner run stops with Ctrl-C "
    "(it resumes from its last checkpoint)"
)


class SimpleTunerTrainer:
    kind = "simpletuner"
    label = "SimpleTuner"

    def plan(
        self, cfg: ExperimentConfig, root: Path, run_dir: Path | None, resume: bool | None, machine=None
    ) -> SimpleTunerPlan:
        return build_simpletuner_plan(cfg, root, run_dir, resume)

    def refuse_resume(self, cfg: ExperimentConfig, plan: SimpleTunerPlan, asked: str) -> None:
        """Never: SimpleTuner resumes from its newest checkpoint itself, or starts fresh when there is none."""

    def resume_warnings(self, cfg: ExperimentConfig, run_dir: Path) -> list[str]:
        return []

    def write_plan(self, plan: SimpleTunerPlan, root: Path) -> list[Path]:
        return write_simpletuner_plan(plan)

    def preflight(self, cfg: ExperimentConfig, plan: SimpleTunerPlan, root: Path, probes=None) -> list[Check]:
        return preflight.run_simpletuner_preflight(cfg, plan, root)

    def adopt_leftovers(self, cfg: ExperimentConfig, run_dir: Path) -> list[Adoption]:
        return []

    def cluster_checks(
        self, cfg: ExperimentConfig, plans: dict, root: Path, machine, replan, sd_scripts
    ) -> list[Check]:
        return []  # one machine only ([cluster] num_machines > 1 is refused for SimpleTuner)

    def launch(
        self,
        cfg: ExperimentConfig,
        plan: SimpleTunerPlan,
        root: Path,
        log: Path,
        echo: Callable[[str], None],
        argv: list[str] | None = None,
        machine=None,
        plans: dict | None = None,
        samples: Callable[[int], str] | None = None,
    ) -> tuple[int, Adoption | None]:
        return launcher.launch(argv or plan.argv, plan.run_dir, log, echo=echo, env=plan.env), None

    def failure(self, plan: SimpleTunerPlan, code: int, log: Path) -> str | None:
        """SimpleTuner's train.py prints a failure's traceback and still exits 0: no final LoRA is the verdict."""
        if code == 0 and finished_lora(plan.run_dir) is None:
            return f"SimpleTuner exited 0 but wrote no final LoRA in {plan.run_dir}: it failed; see {log}"
        return None

    def final_lora(self, cfg: ExperimentConfig, run_dir: Path) -> Path:
        return Path(run_dir) / LORA_FILE

    def request_stop(self, cfg: ExperimentConfig, run_dir: Path):
        raise UserError(NO_STOP)

    def cancel_stop(self, cfg: ExperimentConfig, run_dir: Path) -> bool:
        raise UserError(NO_STOP)

    def setup(self, cfg: ExperimentConfig, root: Path, say: Callable[[str], None], skip_install: bool) -> str:
        setup_simpletuner(cfg, root, say, skip_install=skip_install)
        return 'setup-train (SimpleTuner) done: run `make train TRAINER=simpletuner` (or [trainer] kind = "simpletuner")'
