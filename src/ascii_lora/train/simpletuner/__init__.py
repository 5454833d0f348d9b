"""SimpleTuner as a trainer: its plan (JSON files), pre-flight, set-up and the ``Trainer`` it implements.

accept.py runs inside SimpleTuner's own environment, by file path: it imports SimpleTuner, never ascii_lora.
"""
