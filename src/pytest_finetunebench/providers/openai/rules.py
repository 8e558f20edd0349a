"""OpenAI's rules for fine-tuning (December 2026), as pure functions the provider applies.

Which snapshots tune (retired ones, completion models, the 2026 policy line for a refused create),
the minimum training set, prices, the training JSONL, the ``n_epochs="auto"`` rule, the API's
error text in one line, checkpoints by epoch; and two calls the provider makes: a first-token
log-probability score, and asking a just-tuned model until it is served.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import openai

from ..base import Answer, Prompt, ProviderError, TrainingPair, chat_messages
from ..hosted.api import sleep

MIN_EXAMPLES = 10  # fewer: the API creates the job, then fails it (invalid_n_examples)
MODEL_READY_TIMEOUT = 900.0  # seconds the first answer waits for a just-tuned model to be served

# Retired snapshots: neither tuned nor asked any more. Their cassettes and published answers still replay.
RETIRED: dict[str, str] = {
    "gpt-3.5-turbo-0125": "2026-10-23",
    "gpt-4.1-nano": "2026-10-23",
    "gpt-4.1-nano-2025-04-14": "2026-10-23",
}
REFUSED_HINT = (
    "; since 2026-05-07 (and 2026-07-02 for organisations without recent fine-tuned-model use) most"
    " organisations can no longer create fine-tuning jobs, and nobody can after 2027-01-06: replay a"
    " recorded run (cassettes), re-grade published answers (--ftb-responses), or tune with Gemini or a local model"
)

TUNABLE = ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14")
COMPLETION_MODELS = ("davinci-002", "babbage-002")

# USD per 1M training tokens (supervised fine-tuning, OpenAI's price list). Matched by the longest
# prefix of the model name; --ftb-price MODEL:USD overrides or adds entries.
PRICES_PER_1M: dict[str, float] = {"gpt-4o-mini": 3.00, "gpt-4o": 25.00, "gpt-4.1-mini": 5.00, "gpt-4.1": 25.00}


def api_model(name: str) -> str:
    """The model name as the API spells it (``openai:<name>`` -> ``<name>``)."""
    return name[len("openai:") :] if name.startswith("openai:") else name


def estimate_tokens(pairs: Sequence[TrainingPair]) -> int:
    """Training tokens per epoch, estimated without a tokenizer (~4 UTF-8 bytes a token, plus the chat format's
    overhead)."""
    total = 0
    for p in pairs:
        total += 3 + 2 * 4  # priming + per-message overhead
        total += math.ceil(len(p.prompt.encode()) / 4) + math.ceil(len(p.answer.encode()) / 4)
    return total


def auto_epochs(n_examples: int) -> int:
    """OpenAI's rule for ``n_epochs="auto"``: 3, stretched so small sets see ~100 examples (at most 25)."""
    if n_examples * 3 < 100:
        return min(25, math.ceil(100 / max(n_examples, 1)))
    if n_examples * 3 > 25000:
        return max(1, 25000 // n_examples)
    return 3


NO_TUNING_API = (
    "the server at {url} has no fine-tuning API (HTTP 404 on {path}): it can only answer; fix: evaluate a model"
    " tuned elsewhere with --ftb-tuned-elsewhere=WHAT (what it was trained on) and --ftb-base-model=NAME (its"
    " untuned model), or --ftb-baseline -k base for the untuned model alone"
)


def api_message(exc: BaseException) -> str:
    """The server's own error text (``HTTP 400: <text>``), else the exception's.

    Whatever the body's shape: ``{"error": {"message": ...}}`` (OpenAI; the SDK hands over the inner
    object), ``{"message": ...}``, ``{"detail": ...}`` (FastAPI, ``transformers serve``; a string or
    a list of validation errors), ``{"error": "..."}`` (vLLM, llama.cpp) or a plain-text body.
    """
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {body_text(exc.body) or exc.message}"
    if isinstance(exc, openai.APIError):
        cause = exc.__cause__
        return f"{exc.message}" + (f" ({type(cause).__name__}: {cause})" if cause else "")
    return f"{type(exc).__name__}: {exc}"


def tuning_error(exc: BaseException, url: str, path: str, doing: str) -> str:
    """Why a fine-tuning call failed: a server with no fine-tuning API (404 there) is said to be one."""
    if isinstance(exc, openai.NotFoundError):
        return NO_TUNING_API.format(url=url, path=path)
    return f"{doing} failed: {api_message(exc)}"


def body_text(body: object) -> str:
    """The human-readable reason in an error body of any common shape (empty if there is none)."""
    if isinstance(body, str):  # a plain-text body (or an HTML page), on one line
        return " ".join(body.split())[:300]
    if isinstance(body, list):  # FastAPI's validation errors: [{"loc": [...], "msg": ...}, ...]
        return "; ".join(filter(None, (body_text(b) for b in body)))
    if isinstance(body, dict):
        for field in ("message", "detail", "error", "msg"):
            if text := body_text(body.get(field)):
                where = body.get("loc")
                return f"{'.'.join(map(str, where))}: {text}" if isinstance(where, list) and field == "msg" else text
    return ""


def scores_of(
    client: openai.OpenAI,
    model: str,
    prompts: Sequence[str],
    choices: Sequence[Sequence[str]],
    seed: int,
    system: str | None,
    concurrency: int,
) -> list[list[float]]:
    """Per prompt, each choice's log-probability as the reply's first token (``logprobs``, top 20).

    The API returns token log-probabilities of what the model generates, not of a given reply,
    so only choices that differ in their first token (Yes / No) can be scored; a choice whose
    first token is not among the top 20 gets -inf, and a prompt that cannot be scored (several
    tokens apart, neither choice in the top 20) a row of NaN: that item is skipped. A server that
    sends no logprobs, or a failed request, fails them all (:func:`first_token_scores`).
    """
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        rows = pool.map(
            lambda k: first_token_scores(client, model, prompts[k], choices[k], seed, system), range(len(prompts))
        )
        return list(rows)


def first_token_scores(
    client: openai.OpenAI, model: str, prompt: str, choices: Sequence[str], seed: int, system: str | None = None
) -> list[float]:
    """Each choice's log-probability as ``model``'s first reply token (``logprobs``, top 20): one request.

    Only one-word choices can be scored; a row of NaN where they cannot (the item is skipped). A
    failed request, or a reply without logprobs (a server that ignores the field), is a
    :class:`ProviderError`: scoring it cannot do fails every item, never skips them.
    """
    if any(len(c.split()) != 1 for c in choices):
        return [math.nan] * len(choices)
    try:
        reply = client.chat.completions.create(
            model=model,
            messages=chat_messages(prompt, system),
            temperature=0.0,
            seed=seed,
            max_completion_tokens=1,
            logprobs=True,
            top_logprobs=20,
        )
    except openai.APIError as exc:
        raise ProviderError(f"{model}: scoring by likelihood failed: {api_message(exc)}") from None
    content = reply.choices[0].logprobs.content if reply.choices and reply.choices[0].logprobs else None
    if not content or not content[0].top_logprobs:
        raise ProviderError(
            f"{model}: the server sent no token logprobs (it ignores `logprobs`), so it cannot score by likelihood;"
            " fix: --ftb-scoring=generate for it"
        )
    return scores_from_top([(e.token, e.logprob) for e in content[0].top_logprobs], choices)


def scores_from_top(top: Sequence[tuple[str, float]], choices: Sequence[str]) -> list[float]:
    """Each choice's log-probability as the reply's first token, from its ``top`` logprobs.

    " Yes", "Yes" and "yes" are one choice (the best of them counts); a choice not among ``top``
    gets -inf; a row where no choice is found is all NaN (that item cannot be scored).
    """
    best: dict[str, float] = {}
    for token, logprob in top:
        word = token.strip().lower()
        best[word] = max(best.get(word, -math.inf), logprob)
    row = [best.get(c.strip().lower(), -math.inf) for c in choices]
    return row if any(v > -math.inf for v in row) else [math.nan] * len(choices)


def checkpoints_by_epoch(
    steps: Sequence[tuple[int, str]], n_epochs: int | None, batch: int | None, n_examples: int, final_model: str | None
) -> dict[str, str]:
    """``{epoch: checkpoint model}`` from a job's ``(step, checkpoint model)`` list (OpenAI keeps the last epochs').

    Steps that are whole epochs (``ceil(n_examples / batch)`` steps each) map directly; otherwise
    the checkpoints are the last epochs, counted back from ``n_epochs``. The final model is the last epoch.
    """
    ordered = sorted(steps)
    out: dict[str, str] = {}
    per_epoch = math.ceil(n_examples / batch) if batch and n_examples else None
    if per_epoch and all(step % per_epoch == 0 for step, _ in ordered):
        out = {str(step // per_epoch): name for step, name in ordered}
    elif n_epochs:
        out = {str(n_epochs - (len(ordered) - 1 - i)): name for i, (_, name) in enumerate(ordered)}
    if n_epochs and str(n_epochs) not in out and final_model:
        out[str(n_epochs)] = final_model
    return out


def ask_until_served(
    ask: Callable[[str, Prompt], Answer], model: str, prompt: Prompt, delay: float, progress: Callable[[str], None]
) -> Answer:
    """``ask(model, prompt)`` again while the model answers 404 (not served yet), up to :data:`MODEL_READY_TIMEOUT`."""
    deadline = time.monotonic() + MODEL_READY_TIMEOUT
    started = time.monotonic()
    while True:
        try:
            return ask(model, prompt)
        except openai.NotFoundError as exc:
            if time.monotonic() + delay > deadline:
                return Answer(
                    None,
                    error=f"{api_message(exc)} (still not served {MODEL_READY_TIMEOUT:g} s after the job succeeded)",
                )
            progress(
                f"openai {model}: not served yet (HTTP 404), {time.monotonic() - started:.0f}s waited; asking again"
            )
            sleep(delay)
            delay = min(delay * 1.5, 30.0)
        except Exception as exc:  # every prompt gets an Answer: the API's message if it failed
            return Answer(None, error=api_message(exc))
