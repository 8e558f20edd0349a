"""A randomly initialized Llama with SmolLM2's tokenizer, built in the test (nothing downloads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_tiny_llama(path: Path, tokenizer: Any, *, hidden: int, layers: int, heads: int) -> Path:
    """Save a Llama of ``layers`` x ``hidden`` (MLP 2 x hidden, ``heads`` // 2 KV heads), seeded, with ``tokenizer``."""
    import torch
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads // 2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
