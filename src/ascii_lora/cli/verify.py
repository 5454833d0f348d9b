"""`verify` and `generate`: drawing with the trained LoRA, each picture judged by the checker."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from ..config.loader import load_config
from ..console import bar_columns, console, err_console, fail, say
from ..train.runs import run_dir_of


def _root() -> Path:
    """The checkout: where vendor/ and models/ live. Commands run from it (make does)."""
    return Path.cwd()


def _print_checks(checks) -> None:
    for c in checks:
        mark = {True: "[green]  ok[/green]", False: "[red]FAIL[/red]", None: "  - "}[c.ok]
        fix = f" [dim]->[/dim] {escape(c.fix)}" if c.ok is False and c.fix else ""
        console.print(f"{mark} {escape(c.name)}: {escape(c.detail)}{fix}", soft_wrap=True)


def _refuse(checks) -> int:
    failed = [c for c in checks if c.ok is False]
    gpu = next((c for c in failed if c.name == "CUDA GPU"), None)
    reason = f" ({gpu.detail})" if gpu else ""
    # ``checks`` holds only the failed ones (the ok ones were printed above): never "10 of 10" when 2 passed
    fail(f"{len(failed)} pre-flight check{'s' if len(failed) != 1 else ''} failed{reason}; nothing was drawn")
    return 1


@contextmanager
def _progress(description: str) -> Iterator[tuple[Progress, list]]:
    with Progress(*bar_columns(), console=err_console) as progress:
        holder: list = []
        yield progress, holder


def _verdict(report) -> str:
    if report.error:
        return "[red]unreadable[/red]"
    return (
        "[green]pass[/green]"
        if report.passed
        else "[red]fail[/red] ("
        + ", ".join(k.replace("_", " ") for k, ok in report.criteria.items() if not ok)
        + ")"
    )


def cmd_verify(args: argparse.Namespace) -> int:
    from ..verify.sweep import plan_sweep

    cfg = load_config(args.config)
    run_dir = run_dir_of(_root(), cfg.training.output_dir, args.run_dir)
    plan = plan_sweep(
        cfg, _root(), run_dir, args.checkpoints, args.seeds, False if args.no_baseline else None
    )
    _say_plan(plan)
    if args.dry_run:
        _print_dry_run(plan, run_dir)
        return 0

    outcome = _draw(cfg, run_dir, plan, args.device)
    if outcome.failed_checks:
        return _refuse(outcome.failed_checks)
    if outcome.error:
        fail(
            f"drawing stopped: {outcome.error}; log: {outcome.log}. {outcome.drawn_now} new picture(s) kept: "
            "run the same command again to continue"
        )
        return 1
    _print_summary(outcome)
    return 0


def _say_plan(plan) -> None:
    """The plan's notes and its size: checkpoints x prompts x seeds, drawn and to draw."""
    for n in plan.notes:
        say(f"note: {n}")
    prompts = len({j.prompt_index for j in plan.jobs})
    seeds = len({j.seed for j in plan.jobs})
    what = "checkpoint(s) incl. the base model" if plan.checkpoints[0].is_baseline else "checkpoint(s)"
    say(
        f"{len(plan.checkpoints)} {what} x {prompts} prompts x {seeds} seeds = {len(plan.jobs)} pictures: "
        f"{len(plan.jobs) - len(plan.pending)} already drawn, {len(plan.pending)} to draw (FLUX in {plan.precision.name})"
    )


def _print_dry_run(plan, run_dir: Path) -> None:
    """What --dry-run shows: per checkpoint, the pictures to draw; nothing is drawn."""
    t = Table(show_edge=False)
    for col in ("checkpoint", "file", "to draw", "pictures"):
        t.add_column(col)
    for ck in plan.checkpoints:
        mine = [j for j in plan.jobs if j.checkpoint == ck]
        todo = sum(1 for j in plan.pending if j.checkpoint == ck)
        t.add_row(
            escape(ck.label), escape(ck.path.name if ck.path else "(no LoRA)"), str(todo), str(len(mine))
        )
    console.print(t)
    say(f"pictures go to {run_dir / 'verify'}/<checkpoint>/pNN_sSEED.png; nothing was drawn (--dry-run)")


def _draw(cfg, run_dir: Path, plan, device: str):
    """Run the sweep with a progress bar, one line per picture drawn; return its outcome."""
    from ..verify.sweep import Events, run_sweep

    with _progress("drawing") as (progress, holder):

        def start(total: int) -> None:
            holder.append(progress.add_task("drawing", total=total))

        def drawn(job, report, seconds) -> None:
            if holder:
                progress.advance(holder[0])
            took = f" {seconds:.1f} s" if seconds is not None else ""
            progress.console.print(
                f"{escape(job.checkpoint.label)} p{job.prompt_index:02d} seed {job.seed}:{took} {_verdict(report)}",
                soft_wrap=True,
            )

        def worker(event) -> None:
            if event.get("event") == "loaded":
                progress.console.print(
                    f"models loaded in {event.get('seconds')} s on {escape(str(event.get('device')))}"
                )

        return run_sweep(
            cfg,
            _root(),
            run_dir,
            plan,
            Events(checks=_print_checks, start=start, drawn=drawn, worker=worker),
            device=device,
            stand_in=device != "cuda",
        )


def _print_summary(outcome) -> None:
    """The verdict table, the winner, the drawing speed and where the report went."""
    s = outcome.summary
    assert s is not None
    t = Table(title="verify", show_edge=False)
    for col in (
        "checkpoint",
        "passed",
        "pass rate",
        "95% interval",
        *(k.replace("_", " ") for k in s.results[0].criteria),
    ):
        t.add_column(col)
    for r in s.results:
        name = (
            ("[bold]* " if r.winner else "  ") + escape(r.checkpoint.label) + ("[/bold]" if r.winner else "")
        )
        t.add_row(
            name,
            f"{r.passed}/{r.images}",
            f"{r.rate:.0%}",
            f"{r.interval.low:.0%}-{r.interval.high:.0%}",
            *(f"{v / r.images:.0%}" for v in r.criteria.values()),
        )
    console.print(t)
    if s.winner is not None and s.verdict is not None:
        say(
            f"winner: {s.winner.checkpoint.label} ({s.winner.passed}/{s.winner.images} pass) -> {s.winner.checkpoint.path}: {s.verdict.reason}"
        )
        vs = s.against_baseline()
        if vs:
            say(f"against the base model: {vs}")
    if outcome.seconds_per_image:
        sec = outcome.seconds_per_image
        say(f"{len(sec)} picture(s) drawn now, {sum(sec) / len(sec):.1f} s each on average")
    say(f"report: {outcome.outputs['report']} (chart, contact sheet and scores.json beside it)")


def cmd_generate(args: argparse.Namespace) -> int:
    from ..verify.generate import plan_generate, run_generate

    cfg = load_config(args.config)
    run_dir = run_dir_of(_root(), cfg.training.output_dir, args.run_dir)
    req = plan_generate(cfg, _root(), run_dir, args.prompt, args.lora, args.count, args.seed, args.out)
    if req.added_trigger:
        say(f'added the trigger word: "{req.prompt}"')
    say(f"LoRA: {req.lora or '(none)'} ({req.lora_source})")
    seeds = f"seed {req.seeds[0]}" if len(req.seeds) == 1 else f"seeds {req.seeds[0]}-{req.seeds[-1]}"
    again = "" if req.seed_given else f" (--seed {req.seeds[0]} draws them again)"
    say(
        f"{len(req.seeds)} picture(s), {seeds}{again}; {len(req.jobs) - len(req.pending)} already in {req.out_dir}"
    )
    with _progress("drawing") as (progress, holder):

        def start(total: int) -> None:
            holder.append(progress.add_task("drawing", total=total))

        def picture(pic) -> None:
            if holder and pic.job in req.pending:
                progress.advance(holder[0])
            extra = f", snapped -> {escape(pic.snapped_path.name)}" if pic.snapped_path else ""
            progress.console.print(
                f"{escape(str(pic.job.out))}: {_verdict(pic.report)}{extra}", soft_wrap=True
            )

        res = run_generate(
            cfg,
            _root(),
            req,
            snap=args.snap,
            on_checks=_print_checks,
            on_start=start,
            on_picture=picture,
            device=args.device,
        )
    if res.failed_checks:
        return _refuse(res.failed_checks)
    if res.error:
        fail(
            f"drawing stopped: {res.error}"
            + (f"; log: {res.log}" if res.log else "")
            + ". Pictures drawn so far are kept"
        )
        return 1
    passed = sum(p.report.passed for p in res.pictures)
    snapped = [p for p in res.pictures if p.snapped_path]
    parts = [f"{passed} of {len(res.pictures)} pass the checker as drawn"]
    if args.snap:
        parts.append(
            f"{len(snapped)} repaired by --snap"
            + (
                " ("
                + ", ".join(
                    f"s{p.job.seed}: moved {p.moved[0]},{p.moved[1]} px, {p.repaired_cells} cells"
                    for p in snapped
                )
                + ")"
                if snapped
                else ""
            )
        )
    rest = len(res.pictures) - passed - len(snapped)
    if rest:
        parts.append(
            f"{rest} not convertible (their .ascii marks unreadable cells with ?)"
            + ("" if args.snap else "; --snap repairs near-misses")
        )
    say("; ".join(parts))
    say(
        f"each picture: .png, .check.json (verdict), .ascii (one character per cell); contact sheet: {res.sheet}"
    )
    return 0


def add_commands(add) -> None:
    """Register both commands on the main parser (``add`` is app.build_parser's helper)."""
    from ..config.models import VerifyConfig
    from .common import config_int

    p = add(
        "verify",
        cmd_verify,
        "draw every saved LoRA (and the base model) x prompts x seeds, score, pick the checkpoint to keep",
    )
    p.add_argument("--run-dir", help="run directory (default [training] output_dir)")
    p.add_argument(
        "--checkpoints",
        help="which LoRAs: all (default), last, final, steps like 500,1500, or .safetensors files",
    )
    p.add_argument(
        "--seeds",
        type=config_int(VerifyConfig, "seeds"),
        help="seeds per prompt (default [verify] seeds, at most 1000)",
    )
    p.add_argument("--no-baseline", action="store_true", help="skip the base model without LoRA")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be drawn and what is already there; draw nothing",
    )
    p.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        default="cuda",
        help="cpu: only for the rehearsal's stand-in models",
    )

    p = add(
        "generate",
        cmd_generate,
        "draw pictures from a prompt with the trained LoRA; each gets its verdict and its ASCII",
    )
    p.add_argument("prompt", help="what to draw; the trigger word is added when missing")
    p.add_argument(
        "--lora",
        help="LoRA file (default: the last verify winner, else the run's final LoRA; `none`: base model)",
    )
    p.add_argument(
        "--count",
        type=config_int(VerifyConfig, "count"),
        help="pictures (default [verify] count, at most 1000)",
    )
    p.add_argument(
        "--seed",
        type=config_int(VerifyConfig, "first_seed"),
        help="first seed (default: a random one, printed)",
    )
    p.add_argument("--out", help="output folder (default [verify] out)")
    p.add_argument(
        "--snap", action="store_true", help="repair near-misses onto the grid and say which were repaired"
    )
    p.add_argument("--run-dir", help="run whose LoRA to use by default (default [training] output_dir)")
    p.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        default="cuda",
        help="cpu: only for the rehearsal's stand-in models",
    )
