"""The training set: structure families -> cell grids -> PNG + caption + ground truth on disk.

Enters: ``DatasetConfig`` and a seed. Leaves: a dataset folder with its manifest, validated.
Imports config and grid; never train, check or cli.
"""
