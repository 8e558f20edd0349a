"""``python -m pytest_finetunebench.train SPEC``: one local training, as a job of its own.

The local provider writes ``SPEC`` (the base model's directory, the training pairs, the resolved
plan and where to write) and launches this module: alone, under ``torchrun --nproc-per-node=N``
(``--ftb-nproc``), or inside the user's own launch line (``--ftb-launcher``, for several nodes).
Every process trains its share of each global batch (:mod:`.providers.local_dist`); the main
process writes the model, ``stats.json`` and the progress lines (``train.log``) that the pytest
session reads while it waits. A process dies with the one that started it.
"""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .providers.local_launch import die_with_parent


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m pytest_finetunebench.train SPEC.json", file=sys.stderr)
        return 2
    die_with_parent(signal.SIGKILL)
    spec: dict[str, Any] = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .providers.local_dist import World
    from .providers.local_train import plan_from_json, train
    from .store.jobstore import atomic_write

    plan = plan_from_json(spec["plan"])
    out = Path(spec["out"])
    world = World.join(plan.device.type)
    try:
        if plan.device.type == "cpu" and spec.get("threads"):
            torch.set_num_threads(int(spec["threads"]))
        tokenizer = AutoTokenizer.from_pretrained(spec["base"])
        model = AutoModelForCausalLM.from_pretrained(spec["base"], dtype=torch.float32)
        with open(out / "train.log", "a", encoding="utf-8") as log:

            def progress(line: str) -> None:
                log.write(line + "\n")
                log.flush()

            stats = train(
                model, tokenizer, [tuple(p) for p in spec["pairs"]], plan, out, progress, spec["label"], world
            )
        if world.main:
            atomic_write(out / "stats.json", json.dumps(asdict(stats)).encode())
    finally:
        world.leave()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
