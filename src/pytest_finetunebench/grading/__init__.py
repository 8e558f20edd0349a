"""Grading: an answer against its gold answer, and the item's outcome.

:mod:`.normalize` canonicalizes text and extracts numbers and units (number words: :mod:`.numbers`);
:mod:`.grade` applies a case's matcher and returns a verdict with its reason (:mod:`.matching`: the
verdict, and the matchers a team adds); :mod:`.judge` is the optional second opinion from a model;
:mod:`.outcome` turns a graded answer into the record reports read and the failure a reader sees.
"""
