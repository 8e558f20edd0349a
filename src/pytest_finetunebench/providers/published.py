"""The ``published`` provider: replays answers someone else recorded, without tuning anything.

``--ftb-responses DIR`` names a directory searched recursively for ``*_w_responses.csv`` files
(the layout of FineTuneBench's ``model_responses/``): each has a ``prompt`` column and one
``<model>_response`` column per model. A prompt is looked up by its exact text, then with
whitespace normalized (runs of whitespace as one space, ends stripped). A prompt with no
recorded answer (or an empty cell) is skipped with the reason, never failed.

There is only the ``tuned`` stage: the recorded answers are the tuned models' final answers,
so base, in-context and checkpoint stages raise :class:`ProviderError`.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..cases.upstream.tables import allow_long_csv_fields
from ..items import TUNED
from . import RunContext
from .base import Answer, Endpoint, Prompt, ProviderError, TuneRequest

PATTERN = "*_w_responses.csv"
SUFFIX = "_response"


def normalize(text: str) -> str:
    """The whitespace-insensitive form of a prompt."""
    return " ".join(text.split())


@dataclass
class _Answers:
    """One model's recorded answers: by exact prompt and by normalized prompt (first one wins)."""

    exact: dict[str, str] = field(default_factory=dict)
    normalized: dict[str, str] = field(default_factory=dict)

    def add(self, prompt: str, answer: str) -> None:
        self.exact.setdefault(prompt, answer)
        self.normalized.setdefault(normalize(prompt), answer)

    def get(self, prompt: str) -> str | None:
        found = self.exact.get(prompt)
        return found if found is not None else self.normalized.get(normalize(prompt))


def _index(directory: Path) -> dict[str, _Answers]:
    files = sorted(p for p in directory.rglob(PATTERN) if p.is_file())
    if not files:
        raise ProviderError(
            f"--ftb-responses {directory}: no {PATTERN} files in it or below; fix: point it at a folder"
            " of recorded answers, e.g. <FineTuneBench clone>/model_responses"
        )
    allow_long_csv_fields()
    models: dict[str, _Answers] = {}
    for path in files:
        try:
            with path.open(encoding="utf-8-sig", newline="") as fh:
                reader = csv.DictReader(fh)
                header = reader.fieldnames or []
                if "prompt" not in header:
                    raise ProviderError(
                        f"{path}: no `prompt` column (it has {', '.join(header) or 'none'}); fix: use the"
                        " recorded-answers file unmodified, or move it out of the --ftb-responses directory"
                    )
                columns = [(c[: -len(SUFFIX)], c) for c in header if c.endswith(SUFFIX) and len(c) > len(SUFFIX)]
                for model, _ in columns:
                    models.setdefault(model, _Answers())
                for row in reader:
                    prompt = row.get("prompt")
                    if prompt is None:
                        continue
                    for model, column in columns:
                        answer = row.get(column)
                        if answer is not None and answer.strip():  # an empty cell records nothing
                            models[model].add(prompt, answer)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise ProviderError(f"{path}: cannot read it as UTF-8 CSV ({exc}); fix: use the file unmodified") from None
    return models


class PublishedProvider:
    """Answers from ``*_w_responses.csv`` files; indexed once, on first use."""

    name = "published"

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._models: dict[str, _Answers] | None = None
        self._lock = threading.Lock()

    def models(self) -> Mapping[str, _Answers]:
        """Every model with a response column, and its answers (reads the CSVs the first time)."""
        with self._lock:
            if self._models is None:
                self._models = _index(self.directory)
            return self._models

    def _answers(self, model: str) -> _Answers:
        models = self.models()
        if model not in models:
            have = ", ".join(sorted(models)) or "none"
            raise ProviderError(
                f"no recorded answers from model `{model}` in {self.directory}; models with a"
                f" `<model>{SUFFIX}` column there: {have}; fix: pass one of them as --ftb-model"
            )
        return models[model]

    def endpoints(self, request: TuneRequest, stages: Sequence[str]) -> Mapping[str, Endpoint]:
        """No tuning: the recorded answers are the tuned model's; only the ``tuned`` stage exists."""
        self._answers(request.model)
        other = [s for s in stages if s != TUNED]
        if other:
            raise ProviderError(
                f"published answers have no base or checkpoint answers (asked for stage {', '.join(other)});"
                " fix: with --ftb-responses drop --ftb-baseline and give at most one --ftb-epochs"
            )
        return {TUNED: Endpoint(request.model, TUNED, request.model)}

    def answer(self, endpoint: Endpoint, prompts: Sequence[Prompt]) -> list[Answer]:
        """The recorded answer to each prompt, or a skip naming the model and the directory."""
        answers = self._answers(str(endpoint.handle))
        out: list[Answer] = []
        for prompt in prompts:
            text = answers.get(prompt.text)
            if text is None:
                out.append(
                    Answer(
                        text=None, skip=f"no recorded answer from {endpoint.handle} for this prompt in {self.directory}"
                    )
                )
            else:
                out.append(Answer(text=text))
        return out


def create(ctx: RunContext) -> PublishedProvider:
    """The provider for ``--ftb-responses DIR`` (checked to exist; read on first use)."""
    raw = ctx.options.get("responses")
    if not raw:
        raise ProviderError(
            "the published provider needs --ftb-responses DIR; fix: pass the folder of *_w_responses.csv files"
        )
    directory = Path(str(raw)).expanduser()
    if not directory.is_dir():
        raise ProviderError(
            f"--ftb-responses {directory}: no such directory; fix: point it at a folder of {PATTERN}"
            " files, e.g. <FineTuneBench clone>/model_responses"
        )
    return PublishedProvider(directory)
