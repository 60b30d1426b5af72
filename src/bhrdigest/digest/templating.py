"""Jinja, made cheap for a run's thousands of renders of the same items.

A digest run renders the same few thousand items into tens of thousands of emails.
`RenderingEnvironment` remembers what a *pure* macro returned for the same arguments:
a macro whose output depends on its parameters alone (see `pure_macro_names`). An
item's block is such a macro in both digest templates, so it is rendered once per
distinct item (component, language, reasons) and reused in every digest that shows it.

Purity is read from the template itself when it is loaded, so a staff edit that makes a
macro read the digest (say, the subscriber's name) simply turns remembering it off.
A macro may translate (`_`, `gettext`, `ngettext`, `lang`, `dir`: bhrdigest.i18n): those
come with each render, one set per language, so a remembered block is kept per `gettext`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.runtime import Context, Macro

# Distinct (macro, arguments) remembered per environment; a week's items in every
# combination of language and reasons stay far below this (a few MB of HTML).
REMEMBERED_CALLS = 50_000
# Names a pure macro may read besides its parameters: the render's language (i18n.py).
LANGUAGE_NAMES = frozenset({"_", "gettext", "ngettext", "lang", "dir"})


class RenderingEnvironment(jinja2.Environment):
    """A jinja2.Environment whose templates' pure macros are rendered once per arguments."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.context_class = _RememberingContext
        self.pure_macros: set[tuple[str | None, str]] = set()  # (template name, macro name)
        self.remembered: dict[Hashable, Any] = {}
        self.filters["wordwrap"] = _remembered_wordwrap(self)
        self.filters["indent"] = remembered_filter(jinja2.filters.do_indent)

    def learn_pure_macros(self, source: str, name: str | None) -> frozenset[str]:
        """Remember calls of `source`'s pure macros when it renders as template `name`
        (None for a template made with from_string)."""
        pure = pure_macro_names(self.parse(source))
        self.pure_macros.update((name, macro) for macro in pure)
        return pure


class _RememberingContext(Context):
    def call(__self, __obj: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:  # __self: Jinja's own signature
        environment = __self.environment
        if type(__obj) is not Macro or (__self.name, __obj.name) not in environment.pure_macros:  # type: ignore[attr-defined]
            return super().call(__obj, *args, **kwargs)
        # Jinja passes the loop's variables along to every call in a loop; a macro takes
        # no context, so they are dropped (as Context.call does) rather than keyed on.
        kwargs.pop("_loop_vars", None)
        kwargs.pop("_block_vars", None)
        if kwargs:  # keyword arguments, `caller`: rendered every time
            return super().call(__obj, *args, **kwargs)
        key = (__self.name, __obj.name, __self.get("gettext"), args)
        remembered = environment.remembered  # type: ignore[attr-defined]
        try:
            return remembered[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable argument: render it every time
            return super().call(__obj, *args)
        if len(remembered) >= REMEMBERED_CALLS:
            remembered.clear()
        result = remembered[key] = super().call(__obj, *args)
        return result


def pure_macro_names(template: nodes.Template) -> frozenset[str]:
    """Macros whose output depends on their parameters alone.

    A macro is pure when every name it reads is a parameter, a variable it sets itself
    (loop targets, `set`), `loop` inside its own for loop, the render's language
    (LANGUAGE_NAMES), or another pure macro of the template. Reading anything else
    (`digest`, `caller`, `varargs`, a global) makes it impure. Filters and tests are ours and pure.
    """
    free: dict[str, set[str]] = {}
    for macro in template.find_all(nodes.Macro):
        names = list(macro.find_all(nodes.Name))
        bound = {n.name for n in names if n.ctx in ("param", "store")}
        if any(True for _ in macro.find_all(nodes.For)):
            bound.add("loop")
        free[macro.name] = {n.name for n in names if n.ctx == "load"} - bound - LANGUAGE_NAMES
    pure = set(free)
    changed = True
    while changed:  # drop macros that read an impure name, until nothing changes
        changed = False
        for name in list(pure):
            if not free[name] <= pure - {name}:
                pure.discard(name)
                changed = True
    return frozenset(pure)


def remembered_filter(function: Callable[..., str]) -> Callable[..., str]:
    """A pure string filter, remembered for plain strings (not Markup)."""
    remembered = functools.lru_cache(maxsize=16_384)(function)

    def filter_(text: Any, *args: Any, **kwargs: Any) -> str:
        if type(text) is not str:
            return function(text, *args, **kwargs)
        return remembered(text, *args, **kwargs)

    return filter_


def _remembered_wordwrap(environment: jinja2.Environment) -> Callable[..., str]:
    """Jinja's `wordwrap`, remembered: the same titles and excerpts recur in thousands of
    digests of a run, and textwrap was most of a digest's rendering time."""

    @functools.lru_cache(maxsize=16_384)
    def remembered(text: str, *args: Any) -> str:
        return jinja2.filters.do_wordwrap(environment, text, *args)

    def wordwrap(text: Any, width: int = 79, break_long_words: bool = True, wrapstring: str | None = None,
                 break_on_hyphens: bool = True) -> str:  # fmt: skip
        if type(text) is not str:  # Markup and the like: as Jinja would, uncached
            return jinja2.filters.do_wordwrap(environment, text, width, break_long_words, wrapstring, break_on_hyphens)
        return remembered(text, width, break_long_words, wrapstring, break_on_hyphens)

    return wordwrap
