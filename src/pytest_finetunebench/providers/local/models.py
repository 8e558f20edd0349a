"""The models a local provider answers with, held in memory: loaded once, in the dtype they
compute in, without gradients, and released when evicted.

An answer model loads in its generation dtype (bf16 weights on a GPU that trained in bf16: half
fp32's memory, where fp32 weights under bf16 autocast kept fp32 and cached bf16 copies, about 1.5x
fp32) with ``requires_grad`` off, in eval mode; likelihood scoring loads fp32 (its scores are
fp32's). On a GPU one model is kept (an 8B model is 16 GB in bf16), on a CPU two (base and tuned);
an evicted model's memory goes back to the allocator and, on a GPU, to the device, so the next
training job finds it free. Answers are generated here too (:func:`generate`).
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch

KEEP_LOADED = {"cpu": 2}  # models kept per process and device type; others: KEEP_LOADED_ELSEWHERE
KEEP_LOADED_ELSEWHERE = 1


class LoadedModels:
    """A small LRU of (model, tokenizer) by directory and dtype, on ``device``."""

    def __init__(self, device: torch.device, said: Callable[[str], None]) -> None:
        self.device, self._said = device, said
        self._models: OrderedDict[tuple[str, torch.dtype], tuple[Any, Any]] = OrderedDict()
        self.keep = KEEP_LOADED.get(device.type, KEEP_LOADED_ELSEWHERE)
        self._said_plain = False

    def __len__(self) -> int:
        return len(self._models)

    def get(self, path: str, dtype: torch.dtype, plain_note: str) -> tuple[Any, Any]:
        """The model at ``path`` in ``dtype`` and its tokenizer, loaded if it is not held
        (``plain_note``: said once when a tokenizer has no chat template)."""
        key = (path, dtype)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        from transformers import AutoModelForCausalLM, AutoTokenizer

        while len(self._models) >= self.keep:
            self.evict()
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(self.device)
        model.eval()
        model.requires_grad_(False)
        if not getattr(tokenizer, "chat_template", None) and not self._said_plain:
            self._said_plain = True
            self._said(plain_note)
        self._models[key] = (model, tokenizer)
        return model, tokenizer

    def evict(self) -> None:
        """Drop the least recently used model and give its memory back."""
        _, pair = self._models.popitem(last=False)
        del pair
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def generate(
    model: Any, tokenizer: Any, device: torch.device, texts: list[str], max_new_tokens: int, batch: int
) -> list[str]:
    """Greedy replies to ``texts``: length-sorted, left-padded batches of ``batch``, in the weights'
    own dtype (no autocast)."""
    tokenizer.padding_side = "left"
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    out = [""] * len(texts)
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        width = max(len(encoded[i]) for i in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            ids[row, width - len(encoded[i]) :] = torch.tensor(encoded[i])
            mask[row, width - len(encoded[i]) :] = 1
        with torch.inference_mode():
            generated = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad_id,
                temperature=None,
                top_p=None,
                top_k=None,
            )
        for row, i in enumerate(idx):
            out[i] = tokenizer.decode(generated[row, width:], skip_special_tokens=True)
    return out
