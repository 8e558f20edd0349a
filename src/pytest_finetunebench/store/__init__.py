"""The job store: durable state shared by runs, processes and pytest-xdist workers.

:mod:`.jobstore` owns the store's root, its locks and atomic writes; :mod:`.ledger` keeps the
record of every paid tuning job, so that no crash or rerun pays twice.
"""
