"""The ``Trainer`` for Kohya sd-scripts: segments, saved states and `ascii-lora stop` are its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...config.models import ExperimentConfig
from ...errors import UserError
from .. import launcher, preflight
from ..plan_files import write_plan
from ..preflight import Check
from ..runs import incomplete_states
from ..segments import Adoption, adopt_pending, close_segment, segments_with
from ..losses_file import losses_line, update_losses
from ..setup import setup_train
from ..validation_plan import held_out, plan_estimate
from ..watch import checkpoint_description, run_watch
from ..stop import StopRequest, cancel_stop, request_stop
from .plan import Plan, build_plan


class KohyaTrainer:
    kind = "kohya"
    label = "sd-scripts"

    def plan(self, cfg: ExperimentConfig, root: Path, run_dir: Path | None, resume: bool | None) -> Plan:
        return build_plan(cfg, root, run_dir, resume)

    def refuse_resume(self, cfg: ExperimentConfig, plan: Plan, asked: str) -> None:
        """Refused when there is no state to resume from: sd-scripts would silently start a fresh run."""
        if "--resume" not in plan.argv:
            name = cfg.training.output_name
            raise UserError(
                f"{asked} asks to continue a run, but {plan.run_dir} holds no saved state ({name}-step*-state or "
                f"{name}-state; sd-scripts saves one every {cfg.training.save_every_n_steps} steps): "
                f"check --run-dir / [training] output_dir, or drop {asked} to start fresh"
            )

    def resume_warnings(self, cfg: ExperimentConfig, run_dir: Path) -> list[str]:
        return [f"{d}: its save was cut short (no random_states_*.pkl, which accelerate writes last): not resumed "
                "from; delete it once you no longer need it" for d in incomplete_states(run_dir, cfg.training.output_name)]

    def write_plan(self, plan: Plan, root: Path) -> list[Path]:
        return write_plan(plan, root)

    def preflight(self, cfg: ExperimentConfig, plan: Plan, root: Path, probes=None) -> list[Check]:
        return preflight.run_preflight(cfg, plan, root, probes)  # looked up at call time: tests stand in for it

    def adopt_leftovers(self, cfg: ExperimentConfig, run_dir: Path) -> list[Adoption]:
        return adopt_pending(run_dir, cfg.training.output_name, cfg.training.max_train_steps)

    def launch(self, cfg: ExperimentConfig, plan: Plan, root: Path, log: Path, echo: Callable[[str], None],
               argv: list[str] | None = None, samples: Callable[[int], str] | None = None) -> tuple[int, Adoption | None]:
        validated = bool(held_out(cfg))
        progress = run_watch(cfg, plan.run_dir, plan.segment.offset, echo,
                             checkpoint_description(plan.run_dir, validated, samples))
        progress.launched(plan_estimate(cfg, plan.segment.offset).summary())
        try:
            code = launcher.launch(argv or plan.argv, root, log, echo=echo, keep={"segments": segments_with(plan.run_dir, plan.segment)},
                                   stop_request=plan.run_dir / launcher.STOP_REQUEST, step_offset=plan.segment.offset,
                                   progress=progress)
            adoption = close_segment(plan.run_dir, cfg.training.output_name, plan.segment, code)
            if validated:
                losses, why = update_losses(plan.run_dir)
                echo(why or losses_line(losses))
        finally:
            progress.close()
        return code, adoption

    def failure(self, plan: Plan, code: int, log: Path) -> str | None:
        return None  # sd-scripts' exit code is its verdict

    def final_lora(self, cfg: ExperimentConfig, run_dir: Path) -> Path:
        return Path(run_dir) / f"{cfg.training.output_name}.safetensors"

    def request_stop(self, cfg: ExperimentConfig, run_dir: Path) -> StopRequest:
        return request_stop(run_dir, cfg.training.save_every_n_steps)

    def cancel_stop(self, cfg: ExperimentConfig, run_dir: Path) -> bool:
        return cancel_stop(run_dir)

    def setup(self, cfg: ExperimentConfig, root: Path, say: Callable[[str], None], skip_install: bool) -> str:
        setup_train(cfg, root, say, skip_install=skip_install)
        return "setup-train done: run `make train`"
