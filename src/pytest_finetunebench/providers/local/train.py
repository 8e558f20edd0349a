"""Fine-tuning for the local provider: chat-formatted examples, answer-only loss, checkpoints.

Kept apart from :mod:`.provider` (model resolution, the store layout, answering) so the training loop
reads on its own. Everything here works on an already loaded model and tokenizer.
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..base import SYSTEM_PROMPT, chat_messages
from .compile import compiled_layers, graphs_built
from .cpu import ThreadTuner, cpu_attention, reuse_freed_memory
from .dist import ScaledLoss, World
from .precision import FrozenCasts, autocast_dtype

DEFAULT_EPOCHS = 10
DEFAULT_LR_FULL = 1e-4  # constant; >= 3e-4 was unstable on SmolLM2-135M
DEFAULT_LR_LORA = 1e-3
DEFAULT_BATCH = 8
MIN_STEPS_PER_EPOCH = 4  # tiny training sets get smaller batches, so they still take several steps
IGNORE = -100
# Architectures whose logits are exactly ``lm_head(last_hidden_state)`` (no softcapping or scaling).
PLAIN_HEAD_MODELS = {"llama", "mistral", "qwen2", "qwen3", "smollm3", "olmo", "olmo2", "phi3"}


def chat_prompt(tokenizer: Any, text: str) -> str:
    """``text`` as the user turn of the model's chat template, ready for the assistant's reply."""
    return _render(tokenizer, text, None)


def _render(tokenizer: Any, question: str, answer: str | None) -> str:
    if not getattr(tokenizer, "chat_template", None):  # a plain LM: a minimal QA format
        prompt = f"{SYSTEM_PROMPT}\nQuestion: {question}\nAnswer:"
        return prompt if answer is None else f"{prompt} {answer}{tokenizer.eos_token or ''}"
    messages = chat_messages(question)  # the system message every provider sends (base.SYSTEM_PROMPT)
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=answer is None)
    except Exception:  # templates that refuse a system role (e.g. Gemma's)
        messages[1] = {"role": "user", "content": f"{SYSTEM_PROMPT}\n{question}"}
        return tokenizer.apply_chat_template(messages[1:], tokenize=False, add_generation_prompt=answer is None)


def encode_pair(tokenizer: Any, question: str, answer: str) -> tuple[list[int], list[int]]:
    """Token ids of one chat-formatted example and its labels (``-100`` outside the answer)."""
    prompt = _render(tokenizer, question, None)
    full = _render(tokenizer, question, answer)
    if not full.startswith(prompt):  # templates whose prompt is not a prefix of the full turn
        raise ValueError("the chat template's generation prompt is not a prefix of the answered turn")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt) :].rstrip("\n"), add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    if getattr(tokenizer, "add_bos_token", False) and bos is not None and (not prompt_ids or prompt_ids[0] != bos):
        prompt_ids = [bos, *prompt_ids]
    return prompt_ids + answer_ids, [IGNORE] * len(prompt_ids) + answer_ids


@dataclass
class TrainPlan:
    """Resolved hyperparameters (defaults filled in) and where to write what."""

    epochs: int
    learning_rate: float
    batch_size: int
    seed: int
    lora: int  # 0: full fine-tune; else the LoRA rank
    checkpoints: tuple[int, ...]  # epochs after which to save (the last epoch is the final model)
    device: torch.device
    precision: str  # fp32 or bf16 (autocast): see precision
    # CPU thread counts to choose among by measured speed (see :class:`.cpu.ThreadTuner`);
    # empty: keep torch's current setting
    threads: tuple[int, ...] = ()
    shard: str = ""  # "fsdp": a full fine-tune sharded across the processes (FSDP2), else each holds it whole
    compile: bool = False  # decoder layers through torch.compile: see compile

    @property
    def autocast(self) -> torch.dtype | None:
        """The autocast dtype of :attr:`precision` (``None``: plain fp32)."""
        return autocast_dtype(self.precision)


def plan_to_json(plan: TrainPlan) -> dict[str, Any]:
    """The plan as the training job's spec carries it."""
    return {**asdict(plan), "device": str(plan.device)}


def plan_from_json(data: dict[str, Any]) -> TrainPlan:
    """The plan a training job's spec carries."""
    return TrainPlan(
        **{
            **data,
            "device": torch.device(data["device"]),
            "checkpoints": tuple(data["checkpoints"]),
            "threads": tuple(data["threads"]),
        }
    )


def resolve_plan(
    settings: Any,
    n_pairs: int,
    lora: int,
    device: torch.device,
    extra_checkpoints: Sequence[int] = (),
    threads: Sequence[int] = (),
    precision: str = "fp32",
    shard: str = "",
    compile: bool = False,
) -> TrainPlan:
    """Fill the provider's defaults into :class:`TuneSettings`."""
    # the epochs come from the settings alone (they are in the store key); checkpoints asked for
    # only by a stage are saved too when they fall within them
    wanted = {int(n) for n in settings.checkpoint_epochs}
    epochs = max([int(settings.epochs or DEFAULT_EPOCHS), *wanted])
    wanted |= {int(n) for n in extra_checkpoints if 0 < int(n) <= epochs}
    lr = float(settings.learning_rate or (DEFAULT_LR_LORA if lora else DEFAULT_LR_FULL))
    batch = int(settings.batch_size or max(1, min(DEFAULT_BATCH, n_pairs // MIN_STEPS_PER_EPOCH)))
    counts = tuple(sorted({int(n) for n in threads if int(n) > 0})) if device.type == "cpu" else ()
    return TrainPlan(
        epochs=epochs,
        learning_rate=lr,
        batch_size=batch,
        seed=int(settings.seed),
        lora=int(lora or 0),
        checkpoints=tuple(sorted(n for n in wanted if 0 < n < epochs)),
        device=device,
        precision=precision,
        shard=shard,
        compile=compile,
        # compiled kernels are built for one thread count (another recompiles): the most, throughout
        threads=counts[-1:] if compile else counts,
    )


@dataclass
class TrainStats:
    """What one training did; written to ``train.json`` next to the weights."""

    device: str
    precision: str  # fp32 or bf16 (autocast)
    epochs: int
    learning_rate: float
    batch_size: int
    lora: int
    pairs: int
    train_tokens: int = 0  # real (non-pad) tokens seen, all epochs
    train_positions: int = 0  # positions computed, padding included (batches x width)
    answer_tokens: int = 0
    train_seconds: float = 0.0  # forward/backward/step only
    wall_seconds: float = 0.0  # including checkpoint saves
    tokens_per_second: float = 0.0
    final_loss: float = math.nan
    epoch_losses: list[float] = field(default_factory=list)
    thread_steps: dict[int, int] = field(default_factory=dict)  # CPU: steps run with each thread count
    threads_fastest: int | None = None  # CPU: the count measured fastest (answers after training use it)
    world_size: int = 1  # processes the training ran in (torchrun)
    step_losses: list[float] = field(default_factory=list)  # each step's mean loss over the global batch
    compiled_graphs: int = 0  # graphs torch.compile built for the decoder layers (0: eager)
    first_step_seconds: float = 0.0  # the first step alone: a warm-up, and with compile the compilation
    first_step_tokens: int = 0  # its real tokens (all processes)


def _batches(examples: list[tuple[list[int], list[int]]], batch: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches: shuffle, sort by length within mega-batches, shuffle batch order.

    Examples of similar length share a batch, so padding (wasted compute) stays small.
    """
    order = list(range(len(examples)))
    rng.shuffle(order)
    mega = batch * 8
    out: list[list[int]] = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega], key=lambda i: len(examples[i][0]))
        out.extend(chunk[i : i + batch] for i in range(0, len(chunk), batch))
    rng.shuffle(out)
    return out


def collate(examples: list[tuple[list[int], list[int]]], idx: list[int], pad_id: int, device: torch.device):
    """Examples ``idx`` right-padded to their longest: (ids, attention mask, labels) on ``device``."""
    width = max(len(examples[i][0]) for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    labels = torch.full((len(idx), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        x, y = examples[i]
        ids[row, : len(x)] = torch.tensor(x)
        labels[row, : len(y)] = torch.tensor(y)
        mask[row, : len(x)] = 1
    return ids.to(device), mask.to(device), labels.to(device)


def with_lora(model: Any, rank: int) -> Any:
    """``model`` with LoRA adapters of ``rank`` on every linear layer (alpha 2 x rank, no dropout)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    with warnings.catch_warnings():  # peft 0.21 reads transformers 5's deprecated alias: not the user's to act on
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        return get_peft_model(model, config)


def answer_loss(model: Any, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over answer tokens, computing logits only where there is a label.

    The output layer (vocabulary x hidden) is a fifth of SmolLM2's compute; answers are a few
    tokens of each example, so skipping the prompt positions' logits saves ~20% of a step.
    """
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(inner.config, "model_type", None) not in PLAIN_HEAD_MODELS:  # softcapping, logit scales, ...
        return model(input_ids=ids, attention_mask=mask, labels=labels).loss
    decoder = inner.get_decoder()
    head = inner.get_output_embeddings()
    if decoder is None or head is None:
        return model(input_ids=ids, attention_mask=mask, labels=labels).loss
    hidden = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE
    logits = head(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), targets[keep])


def full_loss(model: Any, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The model's own loss (mean over answer tokens) through its whole forward: a sharded model
    gathers its weights in the forward of the modules it was sharded by, so it is called as a whole."""
    return model(input_ids=ids, attention_mask=mask, labels=labels).loss


def _fmt_eta(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def train(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    plan: TrainPlan,
    out_dir: Path,
    progress: Callable[[str], None] = lambda line: None,
    label: str = "local",
    world: World = World(),
) -> TrainStats:
    """Tune ``model`` on ``pairs``; save ``out_dir/final`` and ``out_dir/epoch-N`` checkpoints.

    Under torchrun (``world``) each process takes its share of every global batch of
    ``plan.batch_size`` examples; DDP averages the gradients, and the main process saves.
    """
    t_wall = time.perf_counter()
    torch.manual_seed(plan.seed)
    rng = random.Random(plan.seed)
    examples = [encode_pair(tokenizer, q, a) for q, a in pairs]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    device = world.device(plan.device)
    if not (plan.shard and world.joined):  # a sharded model loads in its shards on the device (load_sharded)
        model.to(device)
    if plan.lora:
        model = with_lora(model, plan.lora)
    model.config.use_cache = False
    model.train()
    loss_fn = full_loss if plan.shard else answer_loss
    step = world.wrap(ScaledLoss(model, loss_fn), shard=bool(plan.shard), mixed=plan.autocast)
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        optimizer = torch.optim.AdamW(params, lr=plan.learning_rate, weight_decay=0.0, fused=True)
    except (RuntimeError, TypeError):  # devices without a fused AdamW
        optimizer = torch.optim.AdamW(params, lr=plan.learning_rate, weight_decay=0.0)

    stats = TrainStats(
        device=plan.device.type,
        precision=plan.precision,
        epochs=plan.epochs,
        learning_rate=plan.learning_rate,
        batch_size=plan.batch_size,
        lora=plan.lora,
        pairs=len(examples),
        world_size=world.size,
    )
    tuner = ThreadTuner(plan.threads if world.size == 1 else ())
    with contextlib.ExitStack() as stack:
        if plan.device.type == "cpu":
            stack.enter_context(reuse_freed_memory())
        stack.enter_context(cpu_attention(model, plan.device))
        casts = stack.enter_context(FrozenCasts(model, plan.autocast))
        stack.enter_context(compiled_layers(model, plan.compile))
        for epoch in range(1, plan.epochs + 1):
            t0 = time.perf_counter()
            loss_sum = tokens = answer_tokens = positions = 0.0
            for batch in _batches(examples, plan.batch_size, rng):
                n_threads = tuner.choose()
                t_step = time.perf_counter()
                shared = world.share(batch)
                ids, mask, labels = collate(examples, shared or batch[:1], pad_id, device)  # none: weight 0
                n_answer = sum(sum(t != IGNORE for t in examples[i][1][1:]) for i in shared)
                total_answer = world.total(n_answer, device)
                with torch.autocast(plan.device.type, dtype=plan.autocast, enabled=plan.autocast is not None):
                    loss = step(ids, mask, labels, n_answer * world.size / total_answer)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step_loss = world.total(float(loss.detach()) / world.size, device)  # the global batch's mean
                stats.step_losses.append(step_loss)
                loss_sum += step_loss * total_answer
                answer_tokens += total_answer
                tokens += world.total(float(mask[: len(shared)].sum()), device)
                positions += world.total(float(mask[: len(shared)].numel()), device)
                tuner.record(time.perf_counter() - t_step, int(mask.sum()))
                if len(stats.step_losses) == 1:
                    stats.first_step_seconds, stats.first_step_tokens = (
                        round(time.perf_counter() - t_step, 2),
                        int(tokens),
                    )
                if plan.device.type == "cpu":
                    stats.thread_steps[n_threads] = stats.thread_steps.get(n_threads, 0) + 1
            dt = time.perf_counter() - t0
            stats.train_seconds += dt
            stats.train_tokens += int(tokens)
            stats.train_positions += int(positions)
            stats.answer_tokens += int(answer_tokens)
            epoch_loss = loss_sum / max(answer_tokens, 1)
            stats.epoch_losses.append(round(epoch_loss, 5))
            eta = stats.train_seconds / epoch * (plan.epochs - epoch)
            if world.main:
                progress(
                    f"{label}: epoch {epoch}/{plan.epochs} loss {epoch_loss:.4f} {tokens / dt:.0f} tok/s ETA "
                    f"{_fmt_eta(eta)}"
                )
            if epoch in plan.checkpoints:
                with casts.originals():
                    _save(model, tokenizer, out_dir / f"epoch-{epoch}", world, bool(plan.shard))
    _save(model, tokenizer, out_dir / "final", world, bool(plan.shard))
    stats.threads_fastest = tuner.fastest()
    stats.compiled_graphs = graphs_built() if plan.compile else 0
    stats.final_loss = stats.epoch_losses[-1]
    stats.tokens_per_second = round(stats.train_tokens / max(stats.train_seconds, 1e-9), 1)
    stats.train_seconds = round(stats.train_seconds, 2)
    stats.wall_seconds = round(time.perf_counter() - t_wall, 2)
    return stats


def _save(model: Any, tokenizer: Any, path: Path, world: World, shard: bool) -> None:
    """The main process saves while the others wait (:meth:`World.saved`); a sharded model's weights
    are gathered to it first (by every process)."""
    state = world.full_state(model, shard)
    if world.main:
        save_model(model, tokenizer, path, state)
    world.saved()


def save_model(model: Any, tokenizer: Any, path: Path, state: dict[str, Any] | None = None) -> None:
    """Save a plain (merged, if LoRA) model in safetensors, with its tokenizer, on the CPU
    (``state``: the whole weights of a sharded model)."""
    if hasattr(model, "merge_and_unload"):  # a peft model: save a merged copy, keep training the adapters
        model = cpu_copy(model).merge_and_unload()
    model.config.use_cache = True
    model.save_pretrained(path, safe_serialization=True, state_dict=state)
    model.config.use_cache = False
    tokenizer.save_pretrained(path)


def cpu_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` in CPU memory, made without a second copy on its device: each parameter
    and buffer is copied to the CPU first (tied weights stay tied) and the module tree around them."""
    memo: dict[int, Any] = {}
    for param in model.parameters():
        memo.setdefault(
            id(param), torch.nn.Parameter(param.detach().to("cpu", copy=True), requires_grad=param.requires_grad)
        )
    for buffer in model.buffers():
        memo.setdefault(id(buffer), buffer.detach().to("cpu", copy=True))
    return copy.deepcopy(model, memo)


def tuned_line(label: str, stats: dict[str, Any]) -> str:
    """The line that ends a training; it names the thread count kept when speed chose among several
    (the count changes float rounding, so two trainings that kept different counts differ)."""
    steps = stats.get("thread_steps") or {}
    kept = f" on {max(steps, key=steps.get)} threads" if len(steps) > 1 else ""
    return (
        f"{label}: tuned in {stats['wall_seconds']:.0f} s{kept}, {stats['tokens_per_second']:.0f} tok/s,"
        f" final loss {stats['final_loss']:.4f}"
    )
