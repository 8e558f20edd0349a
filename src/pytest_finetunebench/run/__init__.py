"""Running: case files become test items, models are tuned once, items are answered in batches.

:mod:`.collect` turns case files into one item per model stage x case x variant; :mod:`.recipes`
builds each model's training set from the collected cases; :mod:`.tune` tunes each model once per
session (through :mod:`..providers` and the job store); :mod:`.answer` asks every item of a target in
one batch and hands each answer to grading.
"""
