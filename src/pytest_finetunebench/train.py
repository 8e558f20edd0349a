"""``python -m pytest_finetunebench.train SPEC``: one local training, as a job of its own.

The local provider writes ``SPEC`` (the base model's directory, the training pairs, the resolved
plan and where to write) and launches this module: alone, under ``torchrun --nproc-per-node=N``
(``--ftb-nproc``), or inside the user's own launch line (``--ftb-launcher``, for several nodes).
Every process trains its share of each global batch (:mod:`.providers.local.dist`); the main
process writes the model, ``stats.json`` and the progress lines (``train.log``) that the pytest
session reads while it waits. A process dies with the one that started it.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from .providers.local.launch import die_with_parent


def decided_plan(plan: Any, decide: dict[str, str] | None) -> Any:
    """``plan`` with the device and precision this machine resolves ``decide``'s requests to (a
    launch by ``--ftb-launcher``: the session's machine, a login node say, may have no GPU), else as it is."""
    if not decide:
        return plan
    from .providers.local.device import pick_device
    from .providers.local.precision import resolve

    device = pick_device(decide["device"])
    threads = plan.threads if device.type == "cpu" else ()
    return replace(plan, device=device, precision=resolve(decide["precision"], device), threads=threads)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m pytest_finetunebench.train SPEC.json", file=sys.stderr)
        return 2
    die_with_parent(signal.SIGKILL)
    spec: dict[str, Any] = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .providers.local.dist import World, backend_string, load_sharded
    from .providers.local.rule import NcclRule, enforced
    from .providers.local.train import plan_from_json, train
    from .store.jobstore import atomic_write

    plan = decided_plan(plan_from_json(spec["plan"]), spec.get("decide"))
    out = Path(spec["out"])
    world = World.join(plan.device.type)
    # NCCL's rule (FTB_NCCL_RULE=1): every collective judged as a CUDA run's process group would take it
    rule = NcclRule(world.device(plan.device), backend_string("cuda")) if enforced() else None
    try:
        if plan.device.type == "cpu" and spec.get("threads"):
            torch.set_num_threads(int(spec["threads"]))
        tokenizer = AutoTokenizer.from_pretrained(spec["base"])
        if plan.shard and world.joined:  # no process holds the whole model on its device
            model = load_sharded(spec["base"], world, world.device(plan.device), plan.autocast)
        else:
            model = AutoModelForCausalLM.from_pretrained(spec["base"], dtype=torch.float32)
        with open(out / "train.log", "a", encoding="utf-8") as log, rule or contextlib.nullcontext():

            def progress(line: str) -> None:
                log.write(line + "\n")
                log.flush()

            stats = train(
                model, tokenizer, [tuple(p) for p in spec["pairs"]], plan, out, progress, spec["label"], world
            )
        if rule is not None:
            checked = json.dumps(dict(sorted(rule.checked.items()))).encode()
            atomic_write(out / f"collectives-rank{world.rank}.json", checked)
        if world.main:
            atomic_write(out / "stats.json", json.dumps(asdict(stats)).encode())
    finally:
        world.leave()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
