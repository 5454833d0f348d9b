"""``ascii-lora generate``: a prompt in, pictures that convert to ASCII out, each with its verdict.

Per picture: ``<slug>-s<seed>.png``, ``.check.json`` (the checker's verdict), ``.ascii`` (one
character per cell). ``--snap`` moves near-misses (the grid was found, but shifted, grey or on a
grey background) onto the grid and writes ``.snapped.png``; the ``.ascii`` then comes from the
repaired picture. A contact sheet shows the batch. Pictures already drawn with the same prompt,
seed, LoRA and settings are kept, not drawn again.
"""

from __future__ import annotations

import io
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from .. import TRIGGER_WORD
from ..check.overlay import snapped
from ..check.score import ImageReport, check_file
from ..config.models import ExperimentConfig, SampleConfig
from ..errors import UserError
from ..fsutil import atomic_write
from ..grid.atlas import get_atlas
from ..grid.layout import grid_text
from ..train.preflight import Check
from ..train.probes import Probes
from .drawing import Drawer, Precision, choose_precision
from .drive import WorkerFiles, drive_worker
from .jobs import Checkpoint, Job, Settings, base_identity, check_path, is_drawn, make_record, with_trigger
from .sheet import Tile, contact_sheet
from .sweep import winner_file

SEED_RANGE = 2**31  # below 2**32 - 1, what sd-scripts' own random seed draws from


def slug(prompt: str, trigger: str) -> str:
    """File stem from the prompt's words, trigger word left out: ``dungeon_map_infinite_corridor``."""
    text = prompt.replace(trigger, " ")
    words = re.findall(r"[a-z0-9]+", text.lower())
    out = ""
    for w in words:
        if len(out) + len(w) + 1 > 40:
            break
        out = f"{out}_{w}" if out else w
    return out or "image"


@dataclass
class Request:
    prompt: str  # as drawn
    added_trigger: bool
    lora: Path | None
    lora_source: str  # why this LoRA: "--lora", "verify winner", "final LoRA of the run", "none"
    seeds: list[int]
    seed_given: bool
    out_dir: Path
    jobs: list[Job]
    pending: list[Job]
    precision: Precision


@dataclass
class Picture:
    job: Job
    report: ImageReport
    ascii_path: Path | None = None
    snapped_path: Path | None = None
    repaired_cells: int = 0
    moved: tuple[int, int] = (0, 0)


@dataclass
class Result:
    request: Request
    pictures: list[Picture] = field(default_factory=list)
    failed_checks: list[Check] = field(default_factory=list)
    error: str | None = None
    log: Path | None = None
    sheet: Path | None = None
    drawn_now: int = 0


def resolve_lora(cfg: ExperimentConfig, run_dir: Path, lora: str | None) -> tuple[Path | None, str]:
    if lora is not None:
        if lora.lower() == "none":
            return None, "none (the base model alone)"
        p = Path(lora).resolve()  # the worker runs from vendor/sd-scripts
        if not p.is_file():
            raise UserError(
                f"--lora {lora}: no such file (a .safetensors LoRA saved by `make train`, or `none` for the base model)"
            )
        return p, "--lora"
    w = winner_file(run_dir)
    if w is not None:
        return w, "the winner of the last `make verify`"
    final = run_dir / f"{cfg.training.output_name}.safetensors"
    if final.is_file():
        return final, "the run's final LoRA"
    raise UserError(
        f"no LoRA given and none in {run_dir}: pass --lora FILE.safetensors (or --lora none for the base model), "
        "or train first (`make train`)"
    )


def plan_generate(
    cfg: ExperimentConfig,
    root: Path,
    run_dir: Path,
    prompt: str,
    lora: str | None = None,
    count: int | None = None,
    seed: int | None = None,
    out: str | None = None,
) -> Request:
    if not prompt.strip():
        raise UserError(
            'the prompt is empty: describe the picture, e.g. "dungeon map with 6 rooms, white on black"'
        )
    if "\n" in prompt.strip():
        raise UserError("the prompt must be one line")
    try:  # the rules of [sample] prompts: a control character would reach the terminal and the records
        SampleConfig.model_validate({**cfg.sample.model_dump(), "prompts": [prompt.strip()]})
    except ValidationError as e:
        raise UserError(f"the prompt: {e.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    drawn_prompt, added = with_trigger(prompt)
    run_dir = run_dir if run_dir.is_absolute() else (root / run_dir).resolve()
    lora_path, source = resolve_lora(cfg, run_dir, lora)
    n = count or cfg.verify.count
    first = secrets.randbelow(SEED_RANGE) if seed is None else seed
    seeds = list(range(first, first + n))
    out_dir = Path(out or cfg.verify.out)
    out_dir = out_dir if out_dir.is_absolute() else (root / out_dir).resolve()
    precision = choose_precision(cfg)
    settings = Settings.from_config(cfg, precision.name)
    ck = Checkpoint("generate", None, lora_path)
    stem = slug(drawn_prompt, TRIGGER_WORD)
    base = base_identity(cfg, root)
    jobs = [
        Job(
            ck,
            0,
            drawn_prompt,
            s,
            out_dir / f"{stem}-s{s}.png",
            make_record(drawn_prompt, s, settings, lora_path, base),
        )
        for s in seeds
    ]
    pending = [j for j in jobs if not is_drawn(j.out, j.record)]
    return Request(
        drawn_prompt, added, lora_path, source, seeds, seed is not None, out_dir, jobs, pending, precision
    )


def finish_picture(job: Job, cfg: ExperimentConfig, snap: bool) -> Picture:
    atlas = get_atlas(cfg.dataset.cell_size)
    report, reading, gray = check_file(job.out, cfg.check, atlas)
    pic = Picture(job, report)
    # near miss: it draws something and a grid was found (perhaps shifted), but a criterion failed
    near_miss = (
        not report.passed
        and reading is not None
        and gray is not None
        and report.offset is not None
        and report.criteria.get("content", False)
    )
    ascii_text = report.ascii
    if (
        snap and near_miss and reading is not None and gray is not None
    ):  # near_miss says both are, for mypy too
        image, codes = snapped(reading, atlas, gray.shape, reading.offset != (0, 0))
        buf = io.BytesIO()
        from PIL import Image

        Image.fromarray(image).save(buf, "PNG")
        pic.snapped_path = job.out.with_name(job.out.stem + ".snapped.png")
        atomic_write(pic.snapped_path, buf.getvalue())
        ascii_text = grid_text(codes)
        pic.repaired_cells = int((reading.drawn & ~reading.exact & reading.confident).sum())
        pic.moved = (-reading.offset[0], -reading.offset[1])
        report.notes.append(
            f"snapped: moved by {pic.moved[0]},{pic.moved[1]} px, {pic.repaired_cells} cells repaired"
        )
    atomic_write(
        check_path(job.out),
        json.dumps(
            {
                **report.as_dict(),
                "prompt": job.prompt,
                "seed": job.seed,
                "lora": str(job.checkpoint.path) if job.checkpoint.path else None,
                "snapped": str(pic.snapped_path) if pic.snapped_path else None,
            },
            indent=1,
        )
        + "\n",
    )
    if ascii_text is not None:
        pic.ascii_path = job.out.with_suffix(".ascii")
        atomic_write(pic.ascii_path, ascii_text)
    return pic


def run_generate(
    cfg: ExperimentConfig,
    root: Path,
    req: Request,
    snap: bool = False,
    on_checks=lambda checks: None,
    on_start=lambda total: None,
    on_picture=lambda pic: None,
    drawer: Drawer | None = None,
    probes: Probes | None = None,
    device: str = "cuda",
) -> Result:
    res = Result(req)
    req.out_dir.mkdir(parents=True, exist_ok=True)
    finished: dict[Path, Picture] = {}
    if req.pending:
        state = req.out_dir / ".ascii-lora"
        files = WorkerFiles(state / "jobs.json", state / "draw.log", req.out_dir, [req.out_dir])

        def on_drawn(job: Job, event: dict) -> None:
            pic = finish_picture(job, cfg, snap)
            finished[job.out] = pic
            res.drawn_now += 1
            on_picture(pic)

        d = drive_worker(
            cfg,
            root,
            req.pending,
            req.precision,
            [req.lora] if req.lora else [],
            files,
            on_drawn,
            on_checks=on_checks,
            on_start=on_start,
            drawer=drawer,
            probes=probes,
            device=device,
        )
        if not d.hand_over(res):
            return res
    for job in req.jobs:
        pic = finished.get(job.out)
        if pic is None:
            if not is_drawn(job.out, job.record):
                res.error = f"{job.out} was not drawn"
                return res
            pic = finish_picture(job, cfg, snap)
            on_picture(pic)
        res.pictures.append(pic)
    tiles: list[Tile | None] = [
        Tile(
            p.snapped_path or p.job.out,
            p.report.passed or p.snapped_path is not None,
            f"s{p.job.seed} " + ("pass" if p.report.passed else ("snapped" if p.snapped_path else "fail")),
        )
        for p in res.pictures
    ]
    rows = [tiles[i : i + 4] for i in range(0, len(tiles), 4)]
    sheet = contact_sheet(rows, title=req.prompt[:110])
    first = req.jobs[0].out
    res.sheet = first.with_name(
        f"{first.stem.rsplit('-s', 1)[0]}-s{req.seeds[0]}-n{len(req.seeds)}.sheet.png"
    )
    buf = io.BytesIO()
    sheet.save(buf, "PNG")
    atomic_write(res.sheet, buf.getvalue())
    return res
