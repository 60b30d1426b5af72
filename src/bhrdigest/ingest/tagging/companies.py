"""Company names and aliases found in text, looked up, and suggested.

Matching is literal and word-bounded on folded words (see `text`): `Shell` is not in
`shellfish`, `Apple` not in `Pineapple`, `ABN Amro` is `ABN AMRO`, `Nestle` is `Nestlé`,
`Cellebrite's` names Cellebrite. A variant matches only when the catalogue lists it
(`Mandarin Oriental hotel` is not `Mandarin Oriental Hotel Group` unless aliased). CJK
aliases match as substrings. One pass over a text's words, whatever the catalogue size.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Sequence

from bhrdigest.ingest.tagging.text import PhraseIndex, phrase_key, words
from bhrdigest.model import Company

_SUGGEST_POOL = 50  # candidates kept by the trigram filter before difflib ranks them
_SUGGEST_CUTOFF = 0.6
_COMMON_GRAM = 500


class CompanyIndex:
    """The companies catalogue, indexed for finding names in text."""

    def __init__(self, companies: Iterable[Company]) -> None:
        companies = tuple(companies)
        self._names = tuple(dict.fromkeys(c.name for c in companies))
        self._phrases: PhraseIndex[str] = PhraseIndex()
        self._exact: dict[tuple[str, ...], str] = {}
        self._labels: list[tuple[str, str]] = []  # (folded spelling, canonical) for suggest
        self._grams: dict[str, list[int]] | None = None
        # Canonical names first, so that a name wins over another company's alias.
        for company in companies:
            self._add(company.name, company.name)
        for company in companies:
            for alias in company.aliases:
                self._add(alias, company.name)

    def _add(self, spelling: str, canonical: str) -> None:
        key = phrase_key(spelling)
        if not key:
            return
        self._phrases.add(key, canonical)
        if key not in self._exact:
            self._exact[key] = canonical
            self._labels.append((" ".join(key), canonical))

    @property
    def names(self) -> tuple[str, ...]:
        """Canonical names, in catalogue order."""
        return self._names

    def __len__(self) -> int:
        return len(self._names)

    def find(self, text: str) -> list[str]:
        """Canonical names whose name or alias occurs in `text`, in order of first appearance."""
        return self.find_in_words(words(text))

    def find_in_words(self, text_words: Sequence[str]) -> list[str]:
        """`find` for text already split by `text.words` / `text.cased_words_of` (its folded words)."""
        found: dict[str, None] = {}
        for _, _, canonicals in self._phrases.scan(text_words):
            found.update(dict.fromkeys(canonicals))
        return list(found)

    def lookup(self, name: str) -> str | None:
        """The canonical name for exactly this name or alias (any case, accents, punctuation)."""
        return self._exact.get(phrase_key(name))

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """Up to `n` canonical names spelled most like `name`, best first, for "did you mean"."""
        query = " ".join(words(name))
        if not query or n <= 0:
            return []
        grams = self._trigram_index()
        postings = sorted((grams.get(g, ()) for g in _trigrams(query)), key=len)
        # Trigrams shared by thousands of names (" ho" of "Holdings") rank nothing.
        common = max(_COMMON_GRAM, len(self._labels) // 20)
        overlap: Counter[int] = Counter()
        for posting in postings[:1] + [p for p in postings[1:] if len(p) <= common]:
            overlap.update(posting)
        matcher = difflib.SequenceMatcher(b=query, autojunk=False)
        scored = []
        for label_id, _ in overlap.most_common(_SUGGEST_POOL):
            label, canonical = self._labels[label_id]
            matcher.set_seq1(label)
            scored.append((matcher.ratio(), canonical))
        scored.sort(key=lambda s: s[0], reverse=True)
        best = dict.fromkeys(c for score, c in scored if score >= _SUGGEST_CUTOFF)
        return list(best)[:n]

    def _trigram_index(self) -> dict[str, list[int]]:
        # Built on first use: only configuration checks and the bot ask for suggestions.
        if self._grams is None:
            grams: dict[str, list[int]] = {}
            for label_id, (label, _) in enumerate(self._labels):
                for gram in _trigrams(label):
                    grams.setdefault(gram, []).append(label_id)
            self._grams = grams
        return self._grams


def _trigrams(label: str) -> set[str]:
    padded = f"  {label} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}
