"""Sharing a trained LoRA: the folder that goes to the Hugging Face Hub, its model card, the upload.

Enters: a run directory (its LoRA files, ``config.resolved.toml``, the verify sweep's
``scores.json`` and pictures) and the experiment config. Leaves: one folder holding exactly
what is uploaded (LoRA, ``README.md`` card, pictures, verify report, read-back ASCII, summary) and,
unless it is a dry run, one commit on the Hub. Imports config, grid, dataset, train, check and
verify; never cli, never rehearse. huggingface_hub is imported only when uploading or reading a card.
"""
