"""Rehearsal: the pinned sd-scripts runs the user's real plan on a CPU with tiny random stand-in models.

Enters: an ``ExperimentConfig`` and ``vendor/sd-scripts``. Leaves: a rehearsal folder (dataset,
run, stand-ins cache) and one verdict per phase. Imports config, grid, dataset, train and check
(it drives them as a user would); never cli. Needs the train environment (torch) at run time,
never at import time.
"""
