"""ascii-lora: perfect on-grid training data, Kohya plans and grid checks for a FLUX.1 LoRA."""

__version__ = "0.1.0"
TRIGGER_WORD = "ascii_structure_style"
