"""Training-cost estimates shared by the API providers: price tables and ``--ftb-price`` overrides."""

from __future__ import annotations

from typing import Mapping, Sequence

from .base import ProviderError


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
