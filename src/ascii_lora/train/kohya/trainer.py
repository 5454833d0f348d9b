"""The ``Trainer`` for Kohya sd-scripts: segments, saved states and `ascii-lora stop` are its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...config.models import ExperimentConfig
from ...errors import UserError
from .. import cluster, cluster_run, launcher, preflight
from ..losses_file import losses_line, update_losses
from ..plan_files import write_plan
from ..preflight import Check
from ..runs import incomplete_states
from ..segments import Adoption, adopt_pending, close_segment, segments_with
from ..setup import setup_train
from ..stop import StopRequest, cancel_stop, request_stop
from ..validation_plan import held_out, plan_estimate
from ..watch import checkpoint_description, run_watch
from .plan import Plan, build_plan


class KohyaTrainer:
    kind = "kohya"
    label = "sd-scripts"

    def plan(
        self, cfg: ExperimentConfig, root: Path, run_dir: Path | None, resume: bool | None, machine=None
    ) -> Plan:
        if machine is None:
            return build_plan(cfg, root, run_dir, resume)
        return build_plan(cfg, root, run_dir, resume, machine.rank, machine.head_ip)

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
        return [
            f"{d}: {why}: not resumed from; delete it once you no longer need it"
            for d, why in incomplete_states(run_dir, cfg.training.output_name)
        ]

    def write_plan(self, plan: Plan, root: Path) -> list[Path]:
        return write_plan(plan, root)

    def preflight(self, cfg: ExperimentConfig, plan: Plan, root: Path, probes=None) -> list[Check]:
        return preflight.run_preflight(
            cfg, plan, root, probes
        )  # looked up at call time: tests stand in for it

    def adopt_leftovers(self, cfg: ExperimentConfig, run_dir: Path) -> list[Adoption]:
        return adopt_pending(run_dir, cfg.training.output_name, cfg.training.max_train_steps)

    def cluster_checks(
        self, cfg: ExperimentConfig, plans: dict, root: Path, machine, replan, sd_scripts: str | None
    ) -> list[Check]:
        return cluster_run.handshake(cfg, plans, root, machine, replan, sd_scripts)

    def launch(
        self,
        cfg: ExperimentConfig,
        plan: Plan,
        root: Path,
        log: Path,
        echo: Callable[[str], None],
        argv: list[str] | None = None,
        machine=None,
        plans: dict | None = None,
        samples: Callable[[int], str] | None = None,
    ) -> tuple[int, Adoption | None]:
        """The head records the run (segments, plan hash) and renumbers what a resumed segment saved;
        on several machines every launcher watches the shared run directory for a peer's stop.
        Progress (ETA, checkpoint messages) is watched on every machine; validation losses on the head."""
        mine = (plans or {}).get("mine", plan)
        segment, my_segment = plan.segment, mine.segment
        assert segment is not None and my_segment is not None, "build_plan gives every Kohya plan its segment"
        stop = plan.run_dir / launcher.STOP_REQUEST
        facts = (plans or {}).get("facts") or cluster_run.machine_facts(cfg, root, plan, None)
        head = machine is None or machine.is_head
        keep = {
            "plan_hash": facts.plan,
            "processes": cluster.num_processes(cfg),
            "machines": cfg.cluster.num_machines,
        }
        if head:
            keep["segments"] = segments_with(plan.run_dir, segment)
        validated = head and bool(held_out(cfg))
        progress = run_watch(
            cfg,
            plan.run_dir,
            my_segment.offset,
            echo,
            checkpoint_description(plan.run_dir, validated, samples),
        )
        progress.launched(plan_estimate(cfg, my_segment.offset).summary())
        try:
            code = launcher.launch(
                argv or mine.argv,
                root,
                log,
                echo=echo,
                keep=keep,
                stop_request=stop,
                step_offset=my_segment.offset,
                record=None if head else machine.record(plan.run_dir),
                peers=cluster_run.peer_watch(cfg, mine, machine, stop) if machine else None,
                progress=progress,
            )
            adoption = close_segment(plan.run_dir, cfg.training.output_name, segment, code) if head else None
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
