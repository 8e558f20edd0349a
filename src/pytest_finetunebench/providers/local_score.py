"""Likelihood scoring with a local model: each choice's log-likelihood as the reply, and a text's NLL.

Both run in fp32 whatever ``--ftb-precision`` (see :mod:`.local_precision`): a score does not
depend on the batch it was computed in, within 1e-3 nats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .local_train import IGNORE, encode_pair


def choice_scores(
    model: Any,
    tokenizer: Any,
    device: torch.device,
    prompts: Sequence[str],
    choices: Sequence[Sequence[str]],
    batch: int,
) -> list[list[float]]:
    """Per prompt, the log-likelihood of each choice as the whole assistant reply, in the chat
    template (the sum over the reply's tokens, end-of-turn included): one forward pass per
    batch of length-sorted, right-padded sequences, no generation, in fp32 whatever ``--ftb-precision``,
    so a score does not depend on the batch it was computed in (see :mod:`.local_precision`)."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    seqs = [
        (i, j, *encode_pair(tokenizer, p, c))
        for i, (p, options) in enumerate(zip(prompts, choices))
        for j, c in enumerate(options)
    ]
    out = [[0.0] * len(options) for options in choices]
    order = sorted(range(len(seqs)), key=lambda k: len(seqs[k][2]))
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        width = max(len(seqs[k][2]) for k in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        labels = torch.full((len(idx), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, k in enumerate(idx):
            n = len(seqs[k][2])
            ids[row, :n], labels[row, :n], mask[row, :n] = torch.tensor(seqs[k][2]), torch.tensor(seqs[k][3]), 1
        with torch.inference_mode():  # fp32: batch-invariant scores
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        target = labels[:, 1:].to(device)
        picked = logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1) * (target != IGNORE)
        for row, total in zip(idx, picked.sum(dim=-1).tolist()):
            i, j = seqs[row][:2]
            out[i][j] = total
    return out


def text_nll(model: Any, tokenizer: Any, device: torch.device, text: str, window: int = 1024) -> float:
    """Mean per-token negative log-likelihood of ``text`` (nats) in fp32, over windows of
    ``window`` tokens (each window's first token is context only)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    total, count = 0.0, 0
    for start in range(0, len(ids) - 1, window):
        chunk = torch.tensor([ids[start : start + window + 1]], device=device)
        with torch.inference_mode():
            logits = model(input_ids=chunk[:, :-1]).logits.float()
        total += float(torch.nn.functional.cross_entropy(logits[0], chunk[0, 1:], reduction="sum"))
        count += chunk.shape[1] - 1
    return total / count
