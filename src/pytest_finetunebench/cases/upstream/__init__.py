"""FineTuneBench's published CSVs -> case files (``python -m pytest_finetunebench import-upstream``)."""
