"""Judging samples: grid detection, per-image verdicts, overlays, snap, checkpoint ranking, report.

Enters: images (sd-scripts samples or any picture). Leaves: verdicts, read-back ASCII, report.md.
Imports config and grid (the atlas it reads with); never dataset, train or cli.
"""
