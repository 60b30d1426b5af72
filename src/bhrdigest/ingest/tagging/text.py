"""Folding and word-splitting shared by the taggers, and a phrase index over words.

Every name, alias and keyword is matched as a sequence of *words*: runs of letters and
digits, case- and accent-folded (`Nestlé` = `nestle`, `ABN AMRO` = `abn amro`), with
`&` read as the word "and" and every other punctuation mark a separator (so `Dem. Rep.
of Congo` is the words `dem rep of congo`). Each CJK character is a word of its own:
CJK names therefore match as substrings, while Latin names stay word-bounded (`Shell`
is never found inside `shellfish`).

`PhraseIndex` finds any number of such phrases in one pass over a text's words, with one
or two dict look-ups per word: the cost does not grow with the number of phrases.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

V = TypeVar("V")

# Hiragana, katakana (minus the ・ separator), CJK ideographs, Hangul syllables.
_CJK = "\u3005\u3040-\u30fa\u30fc-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_WORD_RE = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_ASCII_WORD_RE = re.compile(r"[A-Za-z0-9]+")  # the same, for ASCII text, twice as fast
_COMBINING_RE = re.compile("[\u0300-\u036f]")  # the accents of Latin, Greek, Cyrillic
SEPARATOR = "\x00"  # never a word: ends any phrase between two texts
# Letters that carry no separable accent but that people type without one.
_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"})


def fold(text: str) -> str:
    """`text` lower-cased, compatibility-normalised (full-width letters) and without accents."""
    if text.isascii():
        return text.lower()
    folded = unicodedata.normalize("NFKC", text).casefold()
    # Decompose, drop Latin accents, recompose: Japanese dakuten (U+3099) survive.
    folded = _COMBINING_RE.sub("", unicodedata.normalize("NFKD", folded))
    return unicodedata.normalize("NFC", folded).translate(_LETTERS)


def words(text: str) -> list[str]:
    """The folded words of `text`, `&` read as "and"."""
    if text.isascii():
        return _ASCII_WORD_RE.findall(text.replace("&", " and ").lower())
    return cased_words(text)[0]


def cased_words(text: str) -> tuple[list[str], list[str]]:
    """The folded words of `text` and, index for index, the words as written.

    The second list is for matches that depend on capitals (`US` the country, `us` the
    pronoun). Words are folded one by one, the rare non-ASCII ones the slow way: folding
    a whole text costs ten times more, for the sake of its curly quotes.
    """
    if text.isascii():
        written = _ASCII_WORD_RE.findall(text.replace("&", " and "))
    else:
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
        written = _WORD_RE.findall(text.replace("&", " and ").replace("＆", " and "))
    joined = "\x01".join(written)
    if joined.isascii():
        return (joined.lower().split("\x01") if written else []), written
    return [w.lower() if w.isascii() else _fold_word(w) for w in written], written


@functools.lru_cache(maxsize=65536)
def _fold_word(word: str) -> str:
    return fold(word)


def cased_words_of(texts: Iterable[str]) -> tuple[list[str], list[str]]:
    """`cased_words` of several texts, with a separator that no phrase can match across."""
    folded: list[str] = []
    written: list[str] = []
    for text in texts:
        f, w = cased_words(text)
        folded += f
        written += w
        folded.append(SEPARATOR)
        written.append(SEPARATOR)
    return folded, written


@functools.lru_cache(maxsize=65536)
def phrase_key(text: str) -> tuple[str, ...]:
    """The words of `text` as a hashable key: equal for every spelling variant."""
    return tuple(words(text))


class PhraseIndex(Generic[V]):
    """Word sequences -> values; finds them in a text leftmost-longest, without overlaps.

    Single-word phrases are keyed by their word, longer ones by their first two words,
    so a scan costs one or two look-ups per word of the text, whatever the index size.
    """

    def __init__(self) -> None:
        self._phrases: dict[tuple[str, ...], list[V]] = {}
        self._single: dict[str, tuple[V, ...]] = {}
        self._pairs: dict[tuple[str, str], list[tuple[list[str], tuple[V, ...]]]] = {}
        self._heads: frozenset[str] = frozenset()
        self._stale = False

    def __len__(self) -> int:
        return len(self._phrases)

    def add(self, phrase: Sequence[str], value: V) -> None:
        """Map `phrase` (folded words) to `value` too; empty phrases are ignored."""
        if not phrase:
            return
        values = self._phrases.setdefault(tuple(phrase), [])
        if value not in values:
            values.append(value)
            self._stale = True

    def get(self, phrase: Sequence[str]) -> tuple[V, ...]:
        """The values of exactly this phrase."""
        return tuple(self._phrases.get(tuple(phrase), ()))

    def scan(self, text_words: Sequence[str]) -> list[tuple[int, int, tuple[V, ...]]]:
        """(start, end, values) of each phrase found, left to right, longest first."""
        if self._stale:
            self._compile()
        single, pairs, heads = self._single, self._pairs, self._heads
        found = []
        i, last = 0, len(text_words) - 1
        while i <= last:
            word = text_words[i]
            if word in heads and i < last and (candidates := pairs.get((word, text_words[i + 1]))):
                end = _longest(candidates, text_words, i + 2)
                if end is not None:
                    found.append((i, end[0], end[1]))
                    i = end[0]
                    continue
            values = single.get(word)
            if values:
                found.append((i, i + 1, values))
            i += 1
        return found

    def _compile(self) -> None:
        single: dict[str, tuple] = {}
        pairs: dict[tuple[str, str], list] = {}
        for phrase, values in self._phrases.items():
            if len(phrase) == 1:
                single[phrase[0]] = tuple(values)
            else:
                pairs.setdefault((phrase[0], phrase[1]), []).append((list(phrase[2:]), tuple(values)))
        for candidates in pairs.values():
            candidates.sort(key=lambda c: len(c[0]), reverse=True)
        self._single, self._pairs = single, pairs
        self._heads = frozenset(first for first, _ in pairs)
        self._stale = False


def _longest(candidates: list, text_words: Sequence[str], rest_start: int) -> tuple[int, tuple] | None:
    for rest, values in candidates:  # longest first
        if not rest or list(text_words[rest_start : rest_start + len(rest)]) == rest:
            return rest_start + len(rest), values
    return None
