"""What training and drawing cost on one NVIDIA H100 80GB HBM3, measured with ``ascii-lora rehearse --full-size``.

The profile rows are docs/measurements/h100_profiles.json as measured on 2026-11-26 (a test keeps
them equal); the drawing rows are README's drawing table (``verify`` at 1024 px, 20 steps).
Kept as Python so the estimate needs no package data file.
"""

from __future__ import annotations

from dataclasses import dataclass

CARD = "NVIDIA H100 80GB HBM3"
PROFILE_STEPS = 6  # steps each profile's measuring run trained (its seconds_total covers all of them)


@dataclass(frozen=True)
class ProfileSpeed:
    profile: str
    seconds_per_step: (
        float  # between the second step and the last: loading, caching and the first step left out
    )
    seconds_total: (
        float  # the whole 6-step run: model loading, latent and text caching of 4 images, final save
    )
    peak_reserved_gib: float

    @property
    def overhead_s(self) -> float:
        """What a run costs besides its steps: loading, caching a few images and the final save."""
        return round(self.seconds_total - PROFILE_STEPS * self.seconds_per_step, 1)


PROFILE_SPEEDS: dict[str, ProfileSpeed] = {
    "24gb": ProfileSpeed("24gb", 2.0, 105.8, 20.41),
    "48gb+": ProfileSpeed("48gb+", 2.0, 93.9, 30.91),
    "16gb": ProfileSpeed("16gb", 1.25, 95.0, 14.77),
    "12gb": ProfileSpeed("12gb", 1.25, 100.5, 12.33),
}

# Seconds per 1024x1024 picture at 20 sampling steps: FLUX resident on the card (bf16), or fp8
# with CPU offload. Training samples with the model it trains: a profile that swaps blocks to the
# CPU draws like the offloaded one, the others like the resident one.
PICTURE_S_RESIDENT = 6.0
PICTURE_S_OFFLOADED = 21.9
PICTURE_STEPS = 20
PICTURE_PIXELS = 1024 * 1024
