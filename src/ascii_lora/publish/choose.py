"""Which LoRA file is shared: the one asked for, else verify's winner, else the run's final file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..fsutil import not_regular
from ..verify.sweep import winner_file


@dataclass(frozen=True)
class Choice:
    path: Path
    why: str  # "--lora", "verify's winner" or "the run's final file": said to the user and in the card


def choose_lora(run_dir: Path, output_name: str, lora: Path | None = None) -> Choice:
    """The user's word first; then what was measured; then what training ended with.

    A verify winner that no longer exists is skipped (``winner_file`` checks), never guessed at.
    """
    if lora is not None:
        why = not_regular(lora)
        if why:
            raise UserError(f"--lora {lora}: {why}; give a LoRA .safetensors file")
        if Path(lora).suffix != ".safetensors":
            raise UserError(
                f"--lora {lora}: not a .safetensors file; "
                "the Hub, diffusers and ComfyUI load LoRAs as .safetensors"
            )
        return Choice(Path(lora), "--lora")
    winner = winner_file(run_dir)
    if winner is not None:
        return Choice(winner, "verify's winner")
    final = Path(run_dir) / f"{output_name}.safetensors"
    if not_regular(final) is None:
        return Choice(final, "the run's final file")
    raise UserError(
        f"{run_dir}: no LoRA to publish (no verify winner, no {final.name}); train first, "
        "or name a file with --lora"
    )
