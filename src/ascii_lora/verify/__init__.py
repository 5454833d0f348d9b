"""After training: draw with the trained LoRAs, score every picture, choose the checkpoint to keep.

Enters: a run directory's saved LoRAs (or one LoRA and a prompt, for ``generate``) and the base
models. Leaves: pictures with their checker verdicts and ASCII, ``verify/report.md`` with pass
rates, intervals, chart and contact sheet. Imports config, grid, dataset, train and check; never
cli. The drawing itself happens in ``draw_worker.py``, a separate process in the train environment.
"""
