"""What the hosted fine-tuning APIs share: :mod:`.tuning` (exactly one job per key over the ledger),
:mod:`.api` (options, stages, answers, create verdicts, the chat call) and :mod:`.cost`."""
