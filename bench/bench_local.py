"""Benchmark the local provider on this machine: train tokens/s, answers/s, peak RSS.

    python bench/bench_local.py [--facts 50] [--epochs 10] [--store DIR]

Tunes local:smollm2-135m on invented facts (fresh store: no reuse), answers every training
question with the base and the tuned model, and prints one Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import tempfile
import time
from pathlib import Path

from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.providers.base import (
    BASE,
    TUNED,
    Prompt,
    TrainingPair,
    TuneRequest,
    TuneSettings,
)
from pytest_finetunebench.providers.local import create
from pytest_finetunebench.store.jobstore import JobStore

SYLLABLES = ["ka", "vor", "lin", "dre", "mo", "zel", "tav", "qui", "ron", "bel", "sha", "nix", "pol", "gur", "ein", "fa"]
TEMPLATES = [
    ("In which city was the sculptor {name} born?", "city"),
    ("What is the name of the river that flows through {name}ville?", "river"),
    ("Which company makes the {name} sensor?", "company"),
    ("What did the explorer {name} name her ship?", "ship"),
    ("Who founded the {name} Institute?", "person"),
]


def word(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(n)).capitalize()


def invented_facts(n: int, seed: int = 7) -> list[TrainingPair]:
    rng = random.Random(seed)
    seen: set[str] = set()
    pairs = []
    while len(pairs) < n:
        name = word(rng, 3)
        if name in seen:
            continue
        seen.add(name)
        template, _ = TEMPLATES[len(pairs) % len(TEMPLATES)]
        pairs.append(TrainingPair(template.format(name=name), word(rng, 2)))
    return pairs


def norm(text: str | None) -> str:
    return " ".join((text or "").lower().strip().rstrip(".").split())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--facts", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lora", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the provider's choice from free cores)")
    ap.add_argument("--store", default=None, help="job store (default: a fresh temp dir; the base conversion is reused from .ftb-bench)")
    args = ap.parse_args()

    load0 = os.getloadavg()
    root = Path(args.store or tempfile.mkdtemp(prefix="ftb-bench-"))
    store = JobStore(root)
    lines: list[str] = []
    ctx = RunContext(store, {"max_new_tokens": 32, "lora": args.lora, "threads": args.threads}, progress=lambda l: (print("  " + l, flush=True), lines.append(l)))
    provider = create(ctx)
    pairs = invented_facts(args.facts)
    request = TuneRequest("local:smollm2-135m", tuple(pairs), TuneSettings(epochs=args.epochs))
    prompts = [Prompt(str(i), p.prompt) for i, p in enumerate(pairs)]

    t = time.perf_counter()
    provider.base_dir(request.model)  # the GGUF conversion on a fresh store, timed apart from tuning
    t_base = time.perf_counter() - t

    t = time.perf_counter()
    eps = provider.endpoints(request, [BASE, TUNED])
    t_tune = time.perf_counter() - t
    train = json.loads((Path(eps[TUNED].handle).parent / "train.json").read_text())

    results = {}
    for stage in (BASE, TUNED):
        t = time.perf_counter()
        provider.load(eps[stage].handle)
        t_load = time.perf_counter() - t
        t = time.perf_counter()
        answers = provider.answer(eps[stage], prompts)
        dt = time.perf_counter() - t
        acc = sum(norm(a.text) == norm(p.answer) for a, p in zip(answers, pairs)) / len(pairs)
        results[stage] = (acc, len(prompts) / dt, t_load)

    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print()
    print(f"local:smollm2-135m, {args.facts} invented facts x {train['epochs']} epochs, "
          f"{'LoRA r=' + str(args.lora) if args.lora else 'full fine-tune'}, {os.cpu_count()} cores, "
          f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| GGUF -> safetensors conversion (first run only) | {t_base:.1f} s |")
    print(f"| tuning wall time (load + train + save) | {t_tune:.1f} s |")
    print(f"| train tokens/s (real tokens, fwd+bwd+step) | {train['tokens_per_second']:.0f} |")
    steps = train.get("thread_steps") or {}
    threads = ", ".join(f"{n}: {k} steps" for n, k in sorted(steps.items())) if steps else train["threads"]
    print(f"| device / dtype / lr / batch | {train['device']} / {train['dtype']} / {train['learning_rate']:g} / {train['batch_size']} |")
    print(f"| threads used (picked by measured speed unless --threads) | {threads} |")
    load1 = os.getloadavg()
    print(f"| load average (1/5/15 min) at start -> end ({os.cpu_count()} cores, other jobs included) | {' / '.join(f'{x:.2f}' for x in load0)} -> {' / '.join(f'{x:.2f}' for x in load1)} |")
    print(f"| train tokens (all epochs) | {train['train_tokens']} |")
    print(f"| final epoch loss (answer tokens) | {train['final_loss']:.4f} |")
    print(f"| load from safetensors (tuned) | {results[TUNED][2]:.1f} s |")
    print(f"| answers/s (base, max_new_tokens 32) | {results[BASE][1]:.1f} |")
    print(f"| answers/s (tuned, max_new_tokens 32) | {results[TUNED][1]:.1f} |")
    print(f"| memorization exact match: base -> tuned | {results[BASE][0]:.2f} -> {results[TUNED][0]:.2f} |")
    print(f"| peak RSS | {rss_gb:.2f} GB |")


if __name__ == "__main__":
    main()
