"""What a team's hooks add (providers, matchers, recipes), each checked when it is registered.

Every ``pytest_ftb_*`` hook implementation is called on its own, so a wrong value is one usage
error naming the hook, the file that implements it, what came back and what was expected, before
anything runs. A ``pytest_ftb_*`` function that is no hook (a misspelt name) is an error naming
the closest hook, rather than a provider or matcher that silently never arrives.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping, Sequence

import pytest

from . import hooks
from .cases.schema import MATCHERS, NAME
from .grading.matching import Matcher
from .providers import ProviderSpec
from .providers.base import TrainingPair
from .run.recipes import Recipe
from .usercode import brief, defined_at, describe, shown

PREFIX = "pytest_ftb_"
HOOKS = tuple(sorted(name for name in vars(hooks) if name.startswith(PREFIX)))


def _source(plugin: object, name: str) -> str:
    """The file a plugin (a conftest.py, a module) comes from, as the user would type it."""
    path = getattr(plugin, "__file__", None)
    return shown(path) if path else name


def check_names(pm: pytest.PytestPluginManager) -> None:
    """A usage error for a ``pytest_ftb_*`` function of a registered plugin that is no hook."""
    for name, plugin in pm.list_name_plugin():
        for attr in sorted(a for a in dir(plugin) if a.startswith(PREFIX) and a not in HOOKS):
            closest = difflib.get_close_matches(attr, HOOKS, n=1, cutoff=0.5)
            hint = f"rename it {closest[0]}" if closest else f"use one of {', '.join(HOOKS)}"
            raise pytest.UsageError(
                f"{_source(plugin, name)}: {attr} is not a hook of pytest-finetunebench, so nothing calls it;"
                f" fix: {hint}"
            )


def _results(config: pytest.Config, hook: str) -> list[tuple[str, object]]:
    """(where, what it returned) of each implementation of ``hook``, in the order pytest calls them."""
    out = []
    for impl in reversed(getattr(config.hook, hook).get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            continue
        where = f"{hook} in {_source(impl.plugin, impl.plugin_name)}"
        try:
            out.append((where, impl.function(**{arg: config for arg in impl.argnames})))
        except Exception as exc:
            raise pytest.UsageError(f"{where} raised {describe(exc)}") from None
    return out


def _wrong(where: str, got: object, expected: str, *item: object) -> pytest.UsageError:
    """A hook's wrong return value (or the wrong ``item`` in the list it returned), as one line."""
    what = f"a {type(got).__name__} holding {brief(item[0])}" if item else brief(got)
    return pytest.UsageError(f"{where} returned {what}; expected {expected}")


def _takes(function: object, count: int) -> bool:
    """Whether ``function`` can be called with ``count`` positional arguments."""
    if not callable(function):
        return False
    try:
        inspect.signature(function).bind(*range(count))
    except TypeError:
        return False
    except ValueError:  # no signature to read (a builtin): let the call decide
        return True
    return True


def providers(config: pytest.Config) -> tuple[ProviderSpec, ...]:
    """The specs ``pytest_ftb_providers`` adds, each checked."""
    found: list[ProviderSpec] = []
    expected = "a list of ProviderSpec (from pytest_finetunebench import ProviderSpec); fix: return [ProviderSpec(...)]"
    for where, got in _results(config, "pytest_ftb_providers"):
        if not isinstance(got, (list, tuple)):
            raise _wrong(where, got, expected)
        for spec in got:
            if not isinstance(spec, ProviderSpec):
                raise _wrong(where, got, expected, spec)
            problem = _spec_problem(spec)
            if problem:
                raise pytest.UsageError(f"{where}: provider `{spec.name}`: {problem}")
            found.append(spec)
    return tuple(found)


def _spec_problem(spec: ProviderSpec) -> str | None:
    """What is wrong with a team's :class:`ProviderSpec`, with the fix (``None``: nothing)."""
    if not (isinstance(spec.name, str) and spec.name):
        return "its name must be a non-empty string; fix: ProviderSpec('mine', ...)"
    if not _takes(spec.matches, 2):
        return (
            f"its `matches` ({brief(spec.matches)}{defined_at(spec.matches)}) cannot be called with (model name,"
            " context); fix: lambda name, ctx: name.startswith('mine:')"
        )
    if not (_takes(spec.factory, 1) or (isinstance(spec.factory, str) and ":" in spec.factory)):
        return (
            f"its `factory` is {brief(spec.factory)}; fix: the provider class, a function of the context, or"
            " 'module:function'"
        )
    if not (isinstance(spec.examples, (tuple, list)) and all(isinstance(e, str) for e in spec.examples)):
        return f"its `examples` are {brief(spec.examples)}; fix: a tuple of model names, such as ('mine:<name>',)"
    return None


def matchers(config: pytest.Config) -> dict[str, Matcher]:
    """The matchers ``pytest_ftb_matchers`` adds, by name, each checked."""
    out: dict[str, Matcher] = {}
    for where, got in _results(config, "pytest_ftb_matchers"):
        if not isinstance(got, Mapping):
            raise _wrong(where, got, "a dict of name -> matcher; fix: return {'name': function}")
        for name, matcher in got.items():
            if (
                not isinstance(name, str)
                or not NAME.match(name)
                or name in MATCHERS
                or out.get(name, matcher) is not matcher
            ):
                raise pytest.UsageError(
                    f"matcher `{name}` from pytest_ftb_matchers: a matcher's name is a lowercase identifier and not"
                    " a built-in matcher's or another hook's; fix: rename it"
                )
            if not _takes(matcher, 3):
                raise pytest.UsageError(
                    f"{where}: matcher `{name}` ({brief(matcher)}{defined_at(matcher)}) cannot be called with"
                    f" (gold, answer, question); fix: def {name}(gold, answer, question) returning a bool or a Verdict"
                )
            out[name] = matcher
    return out


def recipes(config: pytest.Config) -> list[Recipe]:
    """The recipes ``pytest_ftb_recipes`` adds, each checked (their names are checked by ``recipes.use``)."""
    found: list[Recipe] = []
    expected = "a list of Recipe (from pytest_finetunebench import Recipe); fix: return [Recipe('name', build=...)]"
    for where, got in _results(config, "pytest_ftb_recipes"):
        if not isinstance(got, (list, tuple)):
            raise _wrong(where, got, expected)
        for recipe in got:
            if not isinstance(recipe, Recipe):
                raise _wrong(where, got, expected, recipe)
            if recipe.build is not None and not _takes(recipe.build, 2):
                raise pytest.UsageError(
                    f"{where}: recipe `{recipe.name}`: its build ({brief(recipe.build)}{defined_at(recipe.build)})"
                    " cannot be called with (case, dataset); fix: a function of (case, dataset) returning a list of"
                    " TrainingPair"
                )
            if not isinstance(recipe.added, Sequence) or not all(isinstance(p, TrainingPair) for p in recipe.added):
                raise pytest.UsageError(
                    f"{where}: recipe `{recipe.name}`: its `added` is {brief(recipe.added)}; expected a tuple of"
                    " TrainingPair(prompt, answer)"
                )
            found.append(recipe)
    return found
