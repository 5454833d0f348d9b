"""Other kits' FLUX.1 LoRA presets, as data: only the sd-scripts flags that change speed or memory.

Why: our VRAM profiles are only worth something next to what users would otherwise run. FluxGym
and the kohya_ss GUI drive the same sd-scripts, so their presets can be replayed through our pinned
trainer on the same data, rank, resolution and steps (`rehearse --compare`). Each preset names the
file and commit it was read from, and for every flag the exact text of that file that sets it
(``evidence``), so a reader (and a test, where the mirror is at hand) can check it against its source.
Learning rate, schedule, loss, timestep sampling and the like are left out: they change what is
learned, not how fast or how large the run is, and the comparison holds them at ours.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """Where a preset was read: a repository, a file in it and the commit of that file's text."""

    repo: str
    file: str
    commit: str
    read: str  # what in the file: a function, a preset name

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repo}/blob/{self.commit}/{self.file}"


@dataclass(frozen=True)
class PeerPreset:
    """One peer preset: trainer flags (sd-scripts argv after the script) and its dataset batch size."""

    name: str  # our id for it, e.g. "fluxgym-20G"
    kit: str
    card_class: str  # the [hardware] vram_profile it competes with
    source: Source
    flags: tuple[str, ...]
    batch_size: int
    evidence: dict[str, str]  # flag (or "batch_size") -> the source text that sets it
    notes: tuple[str, ...] = ()


# Every flag a side's speed or memory may depend on. A compared side's argv is our plan without any
# of these, plus the side's own: what one side sets and the other does not is part of the difference.
SPEED_MEMORY_FLAGS = (
    "--fp8_base",
    "--fp8_base_unet",
    "--full_bf16",
    "--blocks_to_swap",
    "--split_mode",
    "--cpu_offload_checkpointing",
    "--gradient_checkpointing",
    "--sdpa",
    "--xformers",
    "--mem_eff_attn",
    "--highvram",
    "--optimizer_type",
    "--optimizer_args",
    "--max_grad_norm",
    "--network_train_unet_only",
    "--network_args",
    "--cache_latents",
    "--cache_latents_to_disk",
    "--cache_text_encoder_outputs",
    "--cache_text_encoder_outputs_to_disk",
    "--max_data_loader_n_workers",
    "--persistent_data_loader_workers",
)

FLUXGYM = Source(
    "cocktailpeanut/fluxgym",
    "app.py",
    "678add2c6d27c5d817e9ae2fbd1602bb34f33165",
    "gen_sh() (trainer argv per VRAM choice) and gen_toml() (dataset TOML)",
)
KOHYA_SS = Source(
    "bmaltais/kohya_ss",
    "presets/lora/flux1D - adamw8bit fp8.json",
    "45088f04af78e11cec5407ff4652ea3ed2c14422",
    "the GUI's only FLUX.1 LoRA preset; kohya_gui/lora_gui.py turns its keys into flags",
)

# What gen_sh emits for every VRAM choice (its fixed `sh` block).
_FLUXGYM_COMMON = (
    "--cache_latents_to_disk",
    "--sdpa",
    "--persistent_data_loader_workers",
    "--max_data_loader_n_workers",
    "2",
    "--gradient_checkpointing",
    "--cache_text_encoder_outputs",
    "--cache_text_encoder_outputs_to_disk",
    "--fp8_base",
    "--highvram",
)
_FLUXGYM_EVIDENCE = {
    "--cache_latents_to_disk": "--cache_latents_to_disk {line_break}",
    "--sdpa": "--sdpa --persistent_data_loader_workers {line_break}",
    "--persistent_data_loader_workers": "--sdpa --persistent_data_loader_workers {line_break}",
    "--max_data_loader_n_workers": 'label="--max_data_loader_n_workers", info="Number of Workers", value=2',
    "--gradient_checkpointing": "--gradient_checkpointing {line_break}",
    "--cache_text_encoder_outputs": "--cache_text_encoder_outputs {line_break}",
    "--cache_text_encoder_outputs_to_disk": "--cache_text_encoder_outputs_to_disk {line_break}",
    "--fp8_base": "--fp8_base {line_break}",
    "--highvram": "--highvram {line_break}",
    "batch_size": "batch_size = 1",
}
_ADAFACTOR = (
    "--optimizer_type",
    "adafactor",
    "--optimizer_args",
    "relative_step=False",
    "scale_parameter=False",
    "warmup_init=False",
    "--max_grad_norm",
    "0.0",
)
_ADAFACTOR_EVIDENCE = {
    "--optimizer_type": "--optimizer_type adafactor {line_break}",
    "--optimizer_args": '--optimizer_args "relative_step=False" "scale_parameter=False" "warmup_init=False" {line_break}',
    "--max_grad_norm": "--max_grad_norm 0.0 {line_break}",
}
_FLUXGYM_NOTES = (
    "no --network_train_unet_only: sd-scripts trains a CLIP-L LoRA beside the transformer's "
    "(CLIP-L stays loaded)",
    "accelerate --num_cpu_threads_per_process 1 (ours: [hardware] num_cpu_threads_per_process); not replayed",
)

PEERS: tuple[PeerPreset, ...] = (
    PeerPreset(
        "fluxgym-20G",
        "FluxGym",
        "24gb",
        FLUXGYM,
        (*_FLUXGYM_COMMON, "--optimizer_type", "adamw8bit"),
        1,
        {**_FLUXGYM_EVIDENCE, "--optimizer_type": 'optimizer = f"--optimizer_type adamw8bit {line_break}"'},
        _FLUXGYM_NOTES,
    ),
    PeerPreset(
        "fluxgym-16G",
        "FluxGym",
        "16gb",
        FLUXGYM,
        (*_FLUXGYM_COMMON, *_ADAFACTOR),
        1,
        {**_FLUXGYM_EVIDENCE, **_ADAFACTOR_EVIDENCE},
        _FLUXGYM_NOTES,
    ),
    PeerPreset(
        "fluxgym-12G",
        "FluxGym",
        "12gb",
        FLUXGYM,
        (*_FLUXGYM_COMMON, *_ADAFACTOR, "--split_mode", "--network_args", "train_blocks=single"),
        1,
        {
            **_FLUXGYM_EVIDENCE,
            **_ADAFACTOR_EVIDENCE,
            "--split_mode": "--split_mode {line_break}",
            "--network_args": '--network_args "train_blocks=single" {line_break}',
        },
        (
            *_FLUXGYM_NOTES,
            "--split_mode is deprecated at our pin: flux_train_network.py turns it into --blocks_to_swap 18",
        ),
    ),
    PeerPreset(
        "kohya_ss-flux1D-adamw8bit-fp8",
        "kohya_ss GUI",
        "24gb",
        KOHYA_SS,
        (
            "--fp8_base",
            "--full_bf16",
            "--gradient_checkpointing",
            "--sdpa",
            "--optimizer_type",
            "AdamW8bit",
            "--max_grad_norm",
            "1",
            "--network_train_unet_only",
            "--cache_latents",
            "--cache_latents_to_disk",
            "--cache_text_encoder_outputs",
            "--cache_text_encoder_outputs_to_disk",
            "--max_data_loader_n_workers",
            "0",
        ),
        1,
        {
            "--fp8_base": '"fp8_base": true',
            "--full_bf16": '"full_bf16": true',
            "--gradient_checkpointing": '"gradient_checkpointing": true',
            "--sdpa": '"xformers": "sdpa"',
            "--optimizer_type": '"optimizer": "AdamW8bit"',
            "--max_grad_norm": '"max_grad_norm": 1',
            "--network_train_unet_only": '"text_encoder_lr": 0',
            "--cache_latents": '"cache_latents": true',
            "--cache_latents_to_disk": '"cache_latents_to_disk": true',
            "--cache_text_encoder_outputs": '"flux1_cache_text_encoder_outputs": true',
            "--cache_text_encoder_outputs_to_disk": '"flux1_cache_text_encoder_outputs_to_disk": true',
            "--max_data_loader_n_workers": '"max_data_loader_n_workers": 0',
            "batch_size": '"train_batch_size": 1',
        },
        (
            "names no card; no block swap, so it competes with our 24gb profile",
            "--network_train_unet_only: lora_gui.py sets it when text_encoder_lr is 0 and unet_lr is not",
            '"highvram": false, "split_mode": false, "mem_eff_save": false: not emitted',
        ),
    ),
)


def peers_for(card_class: str) -> tuple[PeerPreset, ...]:
    """The peer presets that compete with our ``card_class`` profile (none for 48gb+)."""
    return tuple(p for p in PEERS if p.card_class == card_class)


def classes_with_peers() -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.card_class for p in PEERS))
