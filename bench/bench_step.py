"""Where one local training step's time goes, and the share of the matmul peak its shapes allow.

    python bench/bench_step.py [--batch 8] [--lora 16] [--precision auto] [--compile] [--steps 10]
        [--threads N] [--store DIR] [--quick]

Builds SmolLM2-135M's training step as the local provider runs it (LoRA on every linear layer,
freed memory kept in the heap, eager attention, frozen weights cast once, ``--compile``'s layers)
on a batch of invented facts, times ``--steps`` steps after three of warm-up, then profiles as
many with torch's profiler and sorts the matmul kernels' time by their operands: attention's
are batched (bmm), an adapter's have the LoRA rank as a dimension (and no vocabulary dimension),
the rest multiply the base weights and the output layer; what the timed step spends beyond them
is everything else. Each base shape is then timed alone (best of 20), which gives the ceiling:
the share of the 2048^2 matmul peak the step would reach if it did nothing but its base matmuls
at their own speed. --quick: 2 steps (CI's check that it runs).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import time
from collections import Counter

import torch
import transformers
from bench_local import invented_facts, matmul_peak, matmul_seconds, store_root
from torch.profiler import ProfilerActivity, profile

from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.providers.local.compile import compiled_layers
from pytest_finetunebench.providers.local.cpu import cpu_attention, reuse_freed_memory
from pytest_finetunebench.providers.local.precision import FrozenCasts, autocast_dtype, resolve
from pytest_finetunebench.providers.local.provider import create
from pytest_finetunebench.providers.local.train import answer_loss, collate, encode_pair, with_lora
from pytest_finetunebench.store.jobstore import JobStore

MATMULS = {"aten::mm": "mm", "aten::addmm": "addmm", "aten::bmm": "bmm", "aten::baddbmm": "baddbmm"}
Shape = tuple[int, ...]


def matmul_dims(op: str, shapes: list[list[int]]) -> Shape:
    """(batch, m, k, n) of a matmul kernel from its recorded input shapes."""
    if op in ("addmm", "baddbmm"):
        shapes = shapes[1:]  # the added tensor comes first
    a, b = shapes[0], shapes[1]
    return (a[0], a[1], a[2], b[2]) if op in ("bmm", "baddbmm") else (1, a[0], a[1], b[1])


def kind(op: str, dims: Shape, rank: int, vocab: int) -> str:
    if op in ("bmm", "baddbmm"):
        return "attention"
    return "adapter" if rank and rank in dims[1:] and vocab not in dims[1:] else "base"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8, help="examples a step (the provider's default: 8)")
    ap.add_argument("--lora", type=int, default=16, help="LoRA rank (the provider's default: 16); 0: full")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    ap.add_argument("--compile", action="store_true", help="the decoder layers through torch.compile")
    ap.add_argument("--steps", type=int, default=10, help="steps timed, and steps profiled")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--store", default=None, help="job store of the converted model (default: a temp dir, removed)")
    ap.add_argument("--quick", action="store_true", help="2 steps: CI's check that it runs")
    args = ap.parse_args()
    transformers.utils.logging.disable_progress_bar()  # loading bars would break up the table
    steps = 2 if args.quick else args.steps
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    precision = resolve(args.precision, device)
    dtype = autocast_dtype(precision)

    with store_root(args.store, "ftb-step-") as root:  # a temp store goes once the model is in memory
        base = create(RunContext(JobStore(root), {})).base_dir("local:smollm2-135m")
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(base))
        model = transformers.AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    model = with_lora(model, args.lora) if args.lora else model
    model.train()
    model.config.use_cache = False
    examples = [encode_pair(tokenizer, p.prompt, p.answer) for p in invented_facts(args.batch)]
    ids, mask, labels = collate(examples, list(range(args.batch)), tokenizer.pad_token_id, device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=True)

    def step() -> None:
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            loss = answer_loss(model, ids, mask, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    with contextlib.ExitStack() as stack:
        stack.enter_context(reuse_freed_memory())
        stack.enter_context(cpu_attention(model, device))
        stack.enter_context(FrozenCasts(model, dtype))
        stack.enter_context(compiled_layers(model, args.compile))
        for _ in range(3):
            step()
        t = time.perf_counter()
        for _ in range(steps):
            step()
        wall = (time.perf_counter() - t) / steps
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            t = time.perf_counter()
            for _ in range(steps):
                step()
            profiled = (time.perf_counter() - t) / steps

    seconds: Counter[str] = Counter()
    flops: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    base_shapes: Counter[Shape] = Counter()
    for event in prof.key_averages(group_by_input_shape=True):
        op = MATMULS.get(event.key)
        if op is None:
            continue
        dims = matmul_dims(op, event.input_shapes)
        what = kind(op, dims, args.lora, model.config.vocab_size)
        seconds[what] += event.self_cpu_time_total / 1e6 / steps
        flops[what] += 2 * dims[0] * dims[1] * dims[2] * dims[3] * event.count / steps
        calls[what] += event.count // steps
        if what == "base":
            base_shapes[dims] += event.count // steps
    total_flops = sum(flops.values())
    peak = matmul_peak(precision)
    # contiguous operands: a linear layer's layout, a @ w.t(), crashed torch 2.13's bf16 AMX kernel with SIGFPE
    # at 32 x 49152 @ (576 x 49152)^T, a product training never computes in that layout
    ceiling = sum(n * matmul_seconds(*dims[1:], dtype or torch.float32, 20) for dims, n in base_shapes.items())

    print()
    print(
        f"SmolLM2-135M training step: {args.batch} x {ids.shape[1]} positions, "
        f"{'LoRA r=' + str(args.lora) if args.lora else 'full fine-tune'}, {precision}"
        f"{' compiled' if args.compile else ''}, {args.threads} threads, {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}"
    )
    print()
    print("| part of the step | calls | ms | share | GFLOP/s |")
    print("|---|---|---|---|---|")
    for what, label in (("base", "base-weight matmuls"), ("adapter", "adapter matmuls"), ("attention", "attention")):
        rate = flops[what] / seconds[what] / 1e9 if seconds[what] else 0.0
        share = 100 * seconds[what] / wall
        print(f"| {label} | {calls[what]} | {1e3 * seconds[what]:.0f} | {share:.0f}% | {rate:.0f} |")
    rest = wall - sum(seconds.values())
    label = "everything else (casts, elementwise, optimizer, dispatch)"
    print(f"| {label} | | {1e3 * rest:.0f} | {100 * rest / wall:.0f}% | |")
    print(
        f"| the step ({int(mask.sum())} tokens: {int(mask.sum()) / wall:.0f} tok/s) | | {1e3 * wall:.0f} | 100% | "
        f"{total_flops / wall / 1e9:.0f} |"
    )
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| the step under the profiler (its own cost included) | {1e3 * profiled:.0f} ms |")
    print(f"| matmul FLOPs a step (every matmul: the model FLOPs) | {total_flops / 1e9:.1f} GFLOP |")
    print(f"| matmul peak, {precision}, 2048^2, {args.threads} threads | {peak / 1e9:.0f} GFLOP/s |")
    print(f"| the step's share of the peak | {100 * total_flops / wall / peak:.0f}% |")
    print(
        f"| ceiling: the base matmuls alone at their own speed ({len(base_shapes)} shapes, best of 20) | "
        f"{1e3 * ceiling:.0f} ms, {100 * total_flops / ceiling / peak:.0f}% of the peak |"
    )


if __name__ == "__main__":
    main()
