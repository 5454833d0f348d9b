"""Driving sd-scripts: the pure plan (files + argv), pre-flight, launch, set-up, LoRA inspection.

Enters: ``ExperimentConfig`` and a dataset folder. Leaves: a run directory the trainer fills.
Imports config, grid and dataset (pre-flight validates the dataset); never check or cli.
"""
