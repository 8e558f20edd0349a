"""Training-cost estimates shared by the API providers: price tables, ``--ftb-price`` overrides,
the cost line shown before a launch and the ``--ftb-max-cost`` check."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..base import ProviderError


def parse_prices(specs: Sequence[str] | None) -> dict[str, float]:
    """``["model:usd", ...]`` -> ``{model: usd}`` (the model may itself contain colons)."""
    out: dict[str, float] = {}
    for spec in specs or ():
        model, sep, usd = str(spec).rpartition(":")
        try:
            if not sep or not model:
                raise ValueError
            out[model.strip()] = float(usd)
        except ValueError:
            raise ProviderError(f"--ftb-price expects MODEL:USD_PER_1M_TOKENS, got {spec!r}") from None
    return out


def price_for(model: str, prices: Mapping[str, float]) -> float | None:
    """The price per 1M training tokens of ``model``: exact name, else the longest matching prefix."""
    if model in prices:
        return prices[model]
    matches = [name for name in prices if model.startswith(name)]
    return prices[max(matches, key=len)] if matches else None


def usd(amount: float | None) -> str:
    """``$12.34``; small amounts four decimals (``$0.0023``), or two significant digits below that
    (``$0.0000010``), so a tiny cost or limit never reads ``$0.00``."""
    if amount is None:
        return "unknown"
    if amount >= 0.01 or amount <= 0:
        return f"${amount:.2f}"
    if amount >= 0.00005:  # four decimals show it
        return f"${amount:.4f}"
    return f"${amount:.{1 - math.floor(math.log10(amount))}f}"


@dataclass(frozen=True)
class Estimate:
    """What a tuning job would cost, estimated before anything is uploaded.

    ``cost`` is ``None`` when it cannot be estimated; ``unknown`` then says why (one clause).
    """

    line: str
    cost: float | None
    training_tokens: int | None
    unknown: str = ""

    def times(self, k: int) -> Estimate:
        """The estimate for ``k`` such jobs (``--ftb-seeds=K``: the same set trained with K seeds)."""
        if k == 1:
            return self
        cost = None if self.cost is None else self.cost * k
        total = f" = {usd(cost)} for all {k}" if cost is not None else ""
        tokens = None if self.training_tokens is None else self.training_tokens * k
        return Estimate(f"{self.line}; x {k} trainings (--ftb-seeds={k}){total}", cost, tokens, self.unknown)


def estimate(
    model: str,
    n_examples: int,
    tokens_per_epoch: int,
    epochs: int | None,
    price: float | None,
    *,
    auto_epochs: bool = False,
    epochs_by: str = "the API",
) -> Estimate:
    """The cost line shown before a launch (and in a dry run), and the estimated cost in USD.

    ``epochs`` ``None``: the API picks them (no estimate); ``auto_epochs``: ``epochs`` is our guess of the API's choice.
    """
    head = f"{model} on {n_examples} examples: ~{tokens_per_epoch:,} tokens"
    if epochs is None:
        why = f"the number of epochs is chosen by {epochs_by} (pass --ftb-epochs)"
        return Estimate(
            f"{head} an epoch, epochs chosen by {epochs_by} (pass --ftb-epochs for a cost estimate)", None, None, why
        )
    tokens = tokens_per_epoch * epochs
    line = (
        f"{head} x {epochs} epochs" + (" (auto, estimated)" if auto_epochs else "") + f" = ~{tokens:,} training tokens"
    )
    if price is None:
        return Estimate(
            f"{line} x no known price (pass --ftb-price MODEL:USD)",
            None,
            tokens,
            f"no training price known for {model} (pass --ftb-price {model}:USD_PER_1M)",
        )
    cost = tokens * price / 1e6
    return Estimate(f"{line} x ${price:.2f}/1M = {usd(cost)} (estimate)", cost, tokens)


def over_budget(plan: Estimate, max_cost: float | None) -> str | None:
    """Why ``--ftb-max-cost`` refuses ``plan`` (one line), or ``None`` when it allows it."""
    if max_cost is None:
        return None
    if plan.cost is None:
        return f"{plan.unknown}, so --ftb-max-cost {usd(max_cost)} cannot be checked ({plan.line})"
    if plan.cost > max_cost:
        return f"estimated cost {usd(plan.cost)} exceeds --ftb-max-cost {usd(max_cost)} ({plan.line})"
    return None


def check_max_cost(plan: Estimate, max_cost: float | None) -> None:
    """Raise :class:`ProviderError` (``refusing to launch: ...``) if ``plan`` breaks ``--ftb-max-cost``."""
    if why := over_budget(plan, max_cost):
        raise ProviderError(f"refusing to launch: {why}")
