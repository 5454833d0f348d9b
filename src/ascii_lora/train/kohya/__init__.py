"""Kohya sd-scripts as a trainer: its plan (argv + dataset TOML) and the ``Trainer`` it implements."""
