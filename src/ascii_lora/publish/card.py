"""The model card: Hub metadata that the Hub and diffusers read, and a body that quotes what was measured.

The YAML header is written as JSON scalars (valid YAML, no YAML library needed for a dry run);
the tests judge it with huggingface_hub's own ``ModelCard``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .. import TRIGGER_WORD, __version__
from ..config.models import ExperimentConfig
from ..train.kohya.plan import SD_SCRIPTS_COMMIT
from .measured import Measured, Rate, Row

BASE_MODEL = "black-forest-labs/FLUX.1-dev"
LICENSE_NAME = "flux-1-dev-non-commercial-license"
LICENSE_LINK = "https://huggingface.co/black-forest-labs/FLUX.1-dev/blob/main/LICENSE.md"
TAGS = ("flux", "lora", "text-to-image", "diffusers", "template:sd-lora", "ascii-lora")


@dataclass(frozen=True)
class Widget:
    prompt: str
    image: str  # path inside the uploaded folder


def metadata(widgets: list[Widget]) -> dict[str, Any]:
    return {
        "base_model": BASE_MODEL,
        "base_model_relation": "adapter",
        "license": "other",
        "license_name": LICENSE_NAME,
        "license_link": LICENSE_LINK,
        "library_name": "diffusers",
        "pipeline_tag": "text-to-image",
        "tags": list(TAGS),
        "instance_prompt": TRIGGER_WORD,
        "widget": [{"text": w.prompt, "output": {"url": w.image}} for w in widgets],
    }


def _yaml(value: Any, indent: int = 0) -> list[str]:
    """Block YAML with every scalar as a JSON string/number: no quoting rule of YAML can bite."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines += [f"{pad}{k}:", *_yaml(v, indent + 2)]
            else:
                lines.append(f"{pad}{k}: {json.dumps(v)}")
    else:
        for item in value:
            inner = (
                _yaml(item, indent + 2) if isinstance(item, (dict, list)) else [f"{pad}  {json.dumps(item)}"]
            )
            lines.append(f"{pad}- {inner[0].strip()}")
            lines += inner[1:]
    return lines


def _pct(r: Rate) -> str:
    low, high = 100 * r.interval.low, 100 * r.interval.high
    return f"{r.passed}/{r.images} = {100 * r.rate:.0f}% [{low:.0f}-{high:.0f}%]"


def verify_table(m: Measured | None) -> list[str]:
    """Pass rate per criterion and overall with 95 % Wilson intervals, the LoRA beside the base model."""
    if m is None:
        return ["This run was never verified (`ascii-lora verify`): no pass rate is claimed for it."]
    rows: list[tuple[str, Row]] = [(f"this LoRA ({m.lora.label})", m.lora)] if m.lora else []
    if m.base:
        rows.append(("base model (FLUX.1-dev, no LoRA)", m.base))
    out = []
    if m.stand_in:
        out += [
            "> Measured in a rehearsal with random stand-in models: the pictures are noise and the rates say",
            "> nothing about the LoRA; only the files and the arithmetic were proven.",
            "",
        ]
    if m.lora is None:
        out += [
            "This file was not among the checkpoints `ascii-lora verify` drew: "
            "no pass rate is claimed for it.",
            "",
        ]
    if not rows:
        return out
    names = list(dict.fromkeys(k for _, r in rows for k in r.criteria))
    out += [
        "| | overall pass | " + " | ".join(n.replace("_", " ") for n in names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for label, r in rows:
        cells = [(_pct(r.criteria[n]) if n in r.criteria else "-") for n in names]
        out.append(f"| {label} | {_pct(r.overall)} | " + " | ".join(cells) + " |")
    s = m.settings
    out += [
        "",
        "Each cell: pictures passing / drawn = rate [95% Wilson interval]; "
        f"{len(s.get('prompts', []))} prompts x {len(s.get('seeds', []))} seeds at "
        f"{s.get('width')}x{s.get('height')}, {s.get('steps')} steps, guidance {s.get('guidance')}, "
        f"LoRA strength {s.get('multiplier')}. A pass meets every criterion of `ascii-lora check`.",
    ]
    return out


def _usage(repo_id: str, lora_name: str, cfg: ExperimentConfig) -> list[str]:
    s = cfg.sample
    prompt = json.dumps(s.prompts[0])
    return [
        "## Use it with diffusers",
        "",
        "```python",
        "import torch",
        "from diffusers import FluxPipeline",
        "",
        f'pipe = FluxPipeline.from_pretrained("{BASE_MODEL}", torch_dtype=torch.bfloat16).to("cuda")',
        f'pipe.load_lora_weights("{repo_id}", weight_name="{lora_name}")',
        f"image = pipe({prompt}, width={s.width}, height={s.height}, num_inference_steps={s.steps},",
        f"             guidance_scale={s.guidance:g}).images[0]",
        'image.save("map.png")',
        "```",
        "",
        "## Use it in ComfyUI",
        "",
        f"Put `{lora_name}` in `ComfyUI/models/loras/`, load FLUX.1-dev with *Load Diffusion Model*, and add "
        "*LoraLoaderModelOnly* (strength 1.0) between the model and the sampler. The file is in sd-scripts' "
        "(Kohya) format, which ComfyUI maps key by key; start every prompt with the trigger word.",
        "",
    ]


def _settings(cfg: ExperimentConfig, dataset: dict[str, Any]) -> list[str]:
    n, o, t = cfg.network, cfg.optimizer, cfg.training
    lines = [
        "## Training settings",
        "",
        f"- rank (dim) {n.dim}, alpha {n.alpha:g}"
        + (f", network args {', '.join(n.args)}" if n.args else ""),
        f"- {t.max_train_steps} steps, learning rate {o.learning_rate:g} ({o.type}, {o.scheduler}), "
        f"batch {t.batch_size or cfg.hardware.profile.batch_size}, {t.side} px, seed {t.seed}",
        f"- VRAM profile {cfg.hardware.vram_profile}, "
        f"trained with sd-scripts at commit `{SD_SCRIPTS_COMMIT}` "
        f"by ascii-lora {__version__}",
    ]
    if dataset:
        fams = ", ".join(f"{k} {v}" for k, v in sorted(dataset.get("families", {}).items()))
        lines.append(
            f"- dataset: {dataset.get('count')} images, seed {dataset.get('seed')}"
            + (f" ({fams})" if fams else "")
        )
    return lines + [
        "",
        "The whole resolved config is `config.resolved.toml`; the dataset's summary `dataset.json`.",
        "",
    ]


def render(
    cfg: ExperimentConfig,
    repo_id: str,
    lora_name: str,
    why: str,
    measured: Measured | None,
    widgets: list[Widget],
    dataset: dict[str, Any],
) -> str:
    """README.md of the Hub repo: metadata header, then what it draws, how to use it, how well it works."""
    head = ["---", *_yaml(metadata(widgets)), "---", ""]
    body = [
        f"# {repo_id.split('/', 1)[1]}",
        "",
        'A FLUX.1-dev LoRA that draws black-and-white "pre-ASCII" structure maps '
        f"(dungeons, caves, mazes, framed text) on an exact {cfg.dataset.cell_size} px cell grid, "
        "one glyph per cell, so each picture reads back as "
        "ASCII. Trained with ascii-lora on generated data only.",
        "",
        f"**Trigger word:** `{TRIGGER_WORD}` (start the prompt with it).",
        "",
        f"File: `{lora_name}` ({why}).",
        "",
        "<Gallery />",
        "",
        *_usage(repo_id, lora_name, cfg),
        "## How well it works (measured)",
        "",
        *verify_table(measured),
        "",
        *_settings(cfg, dataset),
        "## Licence",
        "",
        "The LoRA is a derivative of FLUX.1-dev and is shared under the "
        f"[FLUX.1 [dev] Non-Commercial License]({LICENSE_LINK}):"
        " its terms bind every use of these weights, and it says what holds for the pictures you"
        " generate; read it before any commercial use.",
        "",
    ]
    return "\n".join(head + body)
