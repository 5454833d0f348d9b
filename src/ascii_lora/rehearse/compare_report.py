"""What `rehearse --compare` reads from each trainer run and writes: rates, peaks, ratios, the table.

Why apart from the runner: everything here is pure (text in, numbers out), so it is tested in the
core environment with recorded trainer output, while the runner needs torch and the trainer.
Batch sizes differ between kits (ours 2 at 24 GB, FluxGym 1), so speed is compared per image,
not per step: images/s = batch / (s/step).
"""

from __future__ import annotations

import re

from .profiles import PEAK, step_times

RSS = re.compile(r"peak RSS: ([\d.]+) GiB")
CPU_LABEL = "CPU plumbing, not a speed claim"
TINY_LABEL = "tiny stand-ins: plumbing, not a speed claim"


def seconds_per_step(text: str, steps: int) -> float | None:
    """Mean seconds of steps 2..``steps`` from sd-scripts' progress bar; step 1 (kernels' first launch,
    the optimizer's first state allocation) is left out, so 2 steps are the fewest that give a figure."""
    times = step_times(text)
    if steps < 2 or 1 not in times or steps not in times:
        return None
    return round((times[steps] - times[1]) / (steps - 1), 2)


def measure_run(text: str, batch: int, steps: int) -> dict:
    """One side's numbers from its trainer output: s/step, images/s and the peaks sd_launcher.py printed."""
    row: dict = {}
    s = seconds_per_step(text, steps)
    if s is not None:
        row["seconds_per_step"] = s
        if s > 0:
            row["images_per_second"] = round(batch / s, 4)
    peak = PEAK.search(text)
    if peak:
        row.update(peak_allocated_gib=float(peak.group(1)), peak_reserved_gib=float(peak.group(2)))
    rss = RSS.search(text)
    if rss:
        row["peak_rss_gib"] = float(rss.group(1))
    return row


def peak_memory(row: dict) -> float | None:
    """The memory figure compared: CUDA peak allocated on a GPU, the trainer's peak RSS on the CPU."""
    return row.get("peak_allocated_gib", row.get("peak_rss_gib"))


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def add_ratios(rows: list[dict]) -> list[dict]:
    """Each peer row gets ours/theirs for images/s (> 1: we train more images per second), s/step
    and peak memory (< 1: we need less). The first row is ours; a failed side gets no ratio."""
    ours = rows[0]
    for row in rows[1:]:
        row["ours_over_theirs"] = {
            "images_per_second": _ratio(ours.get("images_per_second"), row.get("images_per_second")),
            "seconds_per_step": _ratio(ours.get("seconds_per_step"), row.get("seconds_per_step")),
            "peak_memory": _ratio(peak_memory(ours), peak_memory(row)),
        }
    return rows


def _cell(v: float | None, unit: str = "") -> str:
    return "–" if v is None else f"{v:g}{unit}"


def _memory_cell(row: dict) -> str:
    if "peak_allocated_gib" in row:
        return f"{row['peak_allocated_gib']:g} / {row.get('peak_reserved_gib', 0):g} GiB"
    return _cell(row.get("peak_rss_gib"), " GiB RSS")


def table(result: dict) -> str:
    """The Markdown table of a compare.json: one line per side, ours first in each card class."""
    lines = [f"**{result['label']}**", ""] if result.get("label") else []
    lines += [
        f"Device: {result['device']}; {result['stand_ins']}; {result['steps']} steps at "
        f"{result['resolution']} px, rank {result['rank']}; {result['date']}.",
        "",
        "| class | side | batch | s/step | images/s | peak memory | ours/theirs images/s "
        "| ours/theirs peak | adapted for this device |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for group in result["classes"]:
        for row in group["sides"]:
            lines.append(_row(group["card_class"], row))
    return "\n".join(lines) + "\n"


def _row(card_class: str, row: dict) -> str:
    r = row.get("ours_over_theirs", {})
    status = "" if not row.get("exit_code") else f" (FAILED, exit {row['exit_code']})"
    cells = [
        card_class,
        row["name"] + status,
        str(row["batch"]),
        _cell(row.get("seconds_per_step")),
        _cell(row.get("images_per_second")),
        _memory_cell(row),
        _cell(r.get("images_per_second")),
        _cell(r.get("peak_memory")),
        "; ".join(row.get("adapted", [])) or "–",
    ]
    return "| " + " | ".join(cells) + " |"
