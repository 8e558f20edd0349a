"""Reporting: what a run's records add up to, and what the session says and exits with.

:mod:`.report` computes accuracy per model stage x dataset x split with intervals (:mod:`.stats`),
laid out as text by :mod:`.text`; :mod:`.gate` turns thresholds into an exit status; :mod:`.runs`
saves runs and compares them; :mod:`.plot` and :mod:`.html` draw them; :mod:`.results` is the
session's collector that writes every output at the end.
"""
