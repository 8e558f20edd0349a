"""Likelihood scoring with a local model: each choice's log-likelihood as the reply, and a text's NLL.

Both run in fp32 whatever ``--ftb-precision`` (see :mod:`.precision`): a score does not
depend on the batch it was computed in, within 1e-3 nats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .train import IGNORE, PLAIN_HEAD_MODELS, encode_pair

CHUNK = 1024  # answer positions whose logits exist at once


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
    so a score does not depend on the batch it was computed in (see :mod:`.precision`)."""
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
            sums = reply_logprobs(model, ids.to(device), mask.to(device), labels.to(device))
        for row, total in zip(idx, sums.tolist()):
            i, j = seqs[row][:2]
            out[i][j] = total
    return out


def reply_logprobs(model: Any, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per row, the sum of the labelled tokens' log-probabilities, in fp32, without a whole batch's
    full-vocabulary logits: the output layer runs on the labelled positions alone, :data:`CHUNK` at a
    time (models whose logits are more than the output layer: one row at a time)."""
    targets = labels[:, 1:]
    keep = targets != IGNORE
    rows = torch.arange(len(ids), device=ids.device).unsqueeze(1).expand_as(targets)[keep]
    out = torch.zeros(len(ids), dtype=torch.float32, device=ids.device)
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    if getattr(model.config, "model_type", None) in PLAIN_HEAD_MODELS and decoder is not None and head is not None:
        hidden = decoder(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1][keep]
        wanted = targets[keep]
        for start in range(0, len(wanted), CHUNK):
            logp = torch.log_softmax(head(hidden[start : start + CHUNK]).float(), dim=-1)
            picked = logp.gather(-1, wanted[start : start + CHUNK].unsqueeze(-1)).squeeze(-1)
            out.index_add_(0, rows[start : start + CHUNK], picked)
        return out
    for row in range(len(ids)):
        logits = model(input_ids=ids[row : row + 1], attention_mask=mask[row : row + 1]).logits[0, :-1].float()
        logp = torch.log_softmax(logits[keep[row]], dim=-1)
        out[row] = logp.gather(-1, targets[row][keep[row]].unsqueeze(-1)).sum()
    return out


def text_nll(model: Any, tokenizer: Any, device: torch.device, text: str, window: int = 1024) -> float:
    """Mean per-token negative log-likelihood of ``text`` (nats) in fp32, over windows of
    ``window`` tokens (each window's first token is context only; :func:`reply_logprobs`)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    total, count = 0.0, 0
    for start in range(0, len(ids) - 1, window):
        chunk = torch.tensor([ids[start : start + window + 1]], device=device)
        labels = chunk.clone()
        labels[0, 0] = IGNORE
        with torch.inference_mode():
            total -= float(reply_logprobs(model, chunk, torch.ones_like(chunk), labels)[0])
        count += chunk.shape[1] - 1
    return total / count
