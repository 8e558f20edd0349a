"""Benchmark the local provider on this machine: train tokens/s and share of peak, answers/s, peak RSS.

    python bench/bench_local.py [--facts 50] [--epochs 10] [--lora 16] [--precision auto] [--compile]
        [--store DIR] [--quick]

Tunes local:smollm2-135m on invented facts (fresh store: no reuse), answers every training
question with the base and the tuned model, and prints one Markdown table. In the same run it
measures the CPU's matmul peak at the training's precision (a 2048 x 2048 matmul, best of 10)
before the training (on --threads, else every core) and after it (on the thread count training
used most), and the training's model FLOPs (torch's FlopCounterMode on one forward and backward
of a training batch: every matmul, attention included, nothing recomputed), so the table gives
training's share of the machine's peak (steps after the first, which warms up and, with
--compile, compiles). --quick: 6 facts, 1 epoch (CI's check that it runs).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

from pytest_finetunebench.items import BASE, TUNED
from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.providers.base import Prompt, TrainingPair, TuneRequest, TuneSettings
from pytest_finetunebench.providers.local.precision import resolve
from pytest_finetunebench.providers.local.provider import create
from pytest_finetunebench.providers.local.train import answer_loss, collate, encode_pair, with_lora
from pytest_finetunebench.store.jobstore import JobStore

SYLLABLES = [
    "ka",
    "vor",
    "lin",
    "dre",
    "mo",
    "zel",
    "tav",
    "qui",
    "ron",
    "bel",
    "sha",
    "nix",
    "pol",
    "gur",
    "ein",
    "fa",
]
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


def matmul_seconds(m: int, k: int, n: int, dtype: torch.dtype, repeat: int) -> float:
    """Seconds of the best of ``repeat`` (m x k) @ (k x n) matmuls of contiguous operands on torch's threads."""
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    a @ b  # warm-up: kernel selection, page faults
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return best


def matmul_peak(precision: str, n: int = 2048, repeat: int = 10) -> float:
    """FLOP/s of the best of ``repeat`` ``n`` x ``n`` matmuls in ``precision`` on torch's current threads."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    return 2 * n**3 / matmul_seconds(n, n, n, dtype, repeat)


def flops_per_position(base: Path, pairs: list[TrainingPair], lora: int, precision: str, batch: int) -> float:
    """Model FLOPs per computed position (padding included) of one training step, as training runs it."""
    model = transformers.AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(base))
    if lora:
        model = with_lora(model, lora)
    model.train()
    examples = [encode_pair(tokenizer, p.prompt, p.answer) for p in pairs[:batch]]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids, mask, labels = collate(examples, list(range(len(examples))), pad, torch.device("cpu"))
    with FlopCounterMode(display=False) as counter:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = answer_loss(model, ids, mask, labels)
        loss.backward()
    return counter.get_total_flops() / ids.numel()


def norm(text: str | None) -> str:
    return " ".join((text or "").lower().strip().rstrip(".").split())


@contextlib.contextmanager
def store_root(path: str | None, prefix: str) -> Iterator[Path]:
    """The job store at `path`, else a temp dir removed on the way out (a converted model is 0.5 GB)."""
    if path:
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--facts", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument(
        "--lora", type=int, default=16, help="LoRA rank (default 16, the provider's); 0 for a full fine-tune"
    )
    ap.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: the provider's choice from free cores)"
    )
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    ap.add_argument("--compile", action="store_true", help="train through torch.compile (--ftb-compile)")
    ap.add_argument("--store", default=None, help="job store (default: a temp dir, removed at the end)")
    ap.add_argument("--quick", action="store_true", help="6 facts, 1 epoch: CI's check that it runs")
    args = ap.parse_args()
    transformers.utils.logging.disable_progress_bar()  # loading bars would break up the table
    if args.quick:
        args.facts, args.epochs = 6, 1
    with store_root(args.store, "ftb-bench-") as root:
        run(args, root)


def run(args: argparse.Namespace, root: Path) -> None:
    """Tune, answer, and print the table, with the job store at `root`."""
    load0 = os.getloadavg()
    store = JobStore(root)
    lines: list[str] = []
    ctx = RunContext(
        store,
        {
            "max_new_tokens": 32,
            "lora": args.lora,
            "threads": args.threads,
            "precision": args.precision,
            "compile": args.compile,
        },
        progress=lambda line: (print("  " + line, flush=True), lines.append(line)),
    )
    provider = create(ctx)
    pairs = invented_facts(args.facts)
    request = TuneRequest("local:smollm2-135m", tuple(pairs), TuneSettings(epochs=args.epochs))
    prompts = [Prompt(str(i), p.prompt) for i, p in enumerate(pairs)]

    t = time.perf_counter()
    provider.base_dir(request.model)  # the GGUF conversion on a fresh store, timed apart from tuning
    t_base = time.perf_counter() - t

    # the peak before and after the training: it moved 2x within minutes on a shared machine
    precision, threads = resolve(args.precision, torch.device("cpu")), torch.get_num_threads()
    torch.set_num_threads(args.threads or os.cpu_count() or 1)  # the count training mostly keeps
    peak_before, threads_before = matmul_peak(precision), torch.get_num_threads()
    torch.set_num_threads(threads)
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
    steps = train.get("thread_steps") or {}
    torch.set_num_threads(int(max(steps, key=steps.get)) if steps else torch.get_num_threads())
    peak = matmul_peak(train["precision"])
    per_position = flops_per_position(Path(eps[BASE].handle), pairs, args.lora, train["precision"], train["batch_size"])
    per_token = per_position * train["train_positions"] / train["train_tokens"]
    rest_seconds = train["train_seconds"] - train["first_step_seconds"]  # --quick may train a single step
    rest_tokens = train["train_tokens"] - train["first_step_tokens"]
    steady = rest_tokens / rest_seconds if rest_seconds > 0 else train["tokens_per_second"]
    achieved = steady * per_token
    print()
    print(
        f"local:smollm2-135m, {args.facts} invented facts x {train['epochs']} epochs, "
        f"{'LoRA r=' + str(args.lora) if args.lora else 'full fine-tune'}, {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}"
    )
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| GGUF -> safetensors conversion (first run only) | {t_base:.1f} s |")
    print(f"| tuning wall time (load + train + save) | {t_tune:.1f} s |")
    print(f"| train tokens/s (real tokens, fwd+bwd+step) | {train['tokens_per_second']:.0f} |")
    print(f"| the first step (a warm-up; with --compile, the compilation) | {train['first_step_seconds']:.1f} s |")
    print(f"| train tokens/s after the first step | {steady:.0f} |")
    steps = train.get("thread_steps") or {}
    threads = ", ".join(f"{n}: {k} steps" for n, k in sorted(steps.items())) if steps else train["threads"]
    print(
        f"| device / precision / compiled graphs / lr / batch | {train['device']} / {train['precision']} / "
        f"{train['compiled_graphs']} / {train['learning_rate']:g} / {train['batch_size']} |"
    )
    print(f"| threads used (picked by measured speed unless --threads) | {threads} |")
    load1 = os.getloadavg()
    print(
        f"| load average (1/5/15 min) at start -> end ({os.cpu_count()} cores, other jobs included) | "
        f"{' / '.join(f'{x:.2f}' for x in load0)} -> {' / '.join(f'{x:.2f}' for x in load1)} |"
    )
    print(
        f"| train tokens (all epochs; positions computed, padding included) | {train['train_tokens']} "
        f"({train['train_positions']}) |"
    )
    print(
        f"| matmul peak, {train['precision']}, 2048^2, before ({threads_before} threads) and after the training "
        f"({torch.get_num_threads()}) | {peak_before / 1e9:.0f} and {peak / 1e9:.0f} GFLOP/s |"
    )
    print(
        f"| model FLOPs per real token (fwd + bwd, padding included, nothing recomputed) | {per_token / 1e6:.0f} "
        "MFLOP |"
    )
    share = f"{achieved / 1e9:.0f} GFLOP/s, {100 * achieved / peak_before:.0f}% and {100 * achieved / peak:.0f}%"
    print(f"| training FLOP/s after the first step, share of the matmul peak before and after | {share} |")
    print(f"| final epoch loss (answer tokens) | {train['final_loss']:.4f} |")
    print(f"| load from safetensors (tuned) | {results[TUNED][2]:.1f} s |")
    print(f"| answers/s (base, max_new_tokens 32) | {results[BASE][1]:.1f} |")
    print(f"| answers/s (tuned, max_new_tokens 32) | {results[TUNED][1]:.1f} |")
    print(f"| memorization exact match: base -> tuned | {results[BASE][0]:.2f} -> {results[TUNED][0]:.2f} |")
    print(f"| peak RSS | {rss_gb:.2f} GB |")


if __name__ == "__main__":
    main()
