"""Cases: where the questions come from, before any model is involved.

The case-file vocabulary (:mod:`.schema`), the format and its validator (:mod:`.casefile`, reading
YAML through :mod:`.yamltree`), the seeded generators of invented facts (:mod:`.generate`,
which also writes the shipped suites) and the importer of FineTuneBench's published CSVs
(:mod:`.upstream`). Nothing here knows about pytest, models or grading.
"""
