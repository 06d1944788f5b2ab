"""Lexical evidence: a tag's name or one of its synonyms written in the talk's text.

Product and technique names (Jupyter, pytest, Kubernetes, asyncio) are spelled the same in a
Japanese, German or Italian abstract as in an English one, while an English sentence encoder
reads those abstracts poorly. So a word-bounded, case-folded match of the vocabulary's own
terms is a signal that transfers across languages and conferences, at the cost of one regular
expression pass per talk.

Matching rules (tested in tests/podium/tagging/test_lexical.py):
- text and terms are NFKC-normalised and case-folded (full-width `Ｊｕｐｙｔｅｒ` is `jupyter`);
- a match must not continue a word: the character before and after is not a letter or digit
  of the same kind (`pip` is not found in `pipeline`, but `Jupyter` is found in
  `授業でJupyterを`, where the neighbours are kana/kanji);
- an English plural `s`/`es` may follow (`notebooks`, `databases`);
- the longest term wins where terms overlap, so `machine learning` does not also count as
  `learning` (education) and `data science` not as `science`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np

from podium.models import Vocabulary
from podium.tagging.vocab import label_texts

MIN_TERM = 2  # shorter terms ("r", "c") match too much
_SEPARATOR = re.compile(r"[\s\-]+")


def fold(text: str) -> str:
    """NFKC-normalised, case-folded text, separators unified to one space."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s_]+", " ", text)


def _is_cjk(ch: str) -> bool:
    # Scripts written without spaces: a Latin term next to them still stands alone.
    code = ord(ch)
    return (
        0x2E80 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF66 <= code <= 0xFF9F
    )


def _continues(ch: str, edge: str) -> bool:
    """Whether `ch` next to a term's `edge` character makes them one word."""
    if not (ch.isalnum() or ch == "'"):
        return False
    return _is_cjk(ch) == _is_cjk(edge)


class Lexicon:
    """The vocabulary's terms compiled into one pattern; `scores` marks the tags they name."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        terms: dict[str, set[int]] = {}
        for j, definition in enumerate(vocabulary.tags):
            # Name and synonyms; the description sentence is not a term.
            texts = [t for t in label_texts(definition) if ":" not in t or t == definition.name]
            for text in texts:
                term = fold(text).strip()
                if len(term) >= MIN_TERM:
                    terms.setdefault(term, set()).add(j)
        self.n_tags = len(vocabulary.tags)
        self.terms = terms
        ordered = sorted(terms, key=lambda t: (-len(t), t))  # longest first: it wins overlaps
        # "machine learning" also matches "machine-learning" and "machinelearning"
        body = "|".join(r"[\s\-]?".join(map(re.escape, _SEPARATOR.split(t))) for t in ordered)
        self._pattern = re.compile(f"(?:{body})(?:e?s)?") if ordered else None
        self._lookup = {_SEPARATOR.sub("", t): t for t in reversed(ordered)}

    def matches(self, text: str) -> list[str]:
        """The terms found in `text` (folded), in order, each standing alone."""
        if self._pattern is None or not text:
            return []
        folded = fold(text)
        found: list[str] = []
        position = 0
        while True:
            match = self._pattern.search(folded, position)
            if match is None:
                return found
            start, end = match.span()
            term = self._term(match.group(0))
            if term is not None and end - start > 0:
                before = folded[start - 1] if start else " "
                after = folded[end] if end < len(folded) else " "
                if not _continues(before, folded[start]) and not _continues(after, folded[end - 1]):
                    found.append(term)
                    position = end
                    continue
            position = start + 1

    def _term(self, matched: str) -> str | None:
        key = _SEPARATOR.sub("", matched)
        for cut in (0, 1, 2):  # the plural ending, if any
            term = self._lookup.get(key[: len(key) - cut] if cut else key)
            if term is not None:
                return term
        return None

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """(n, T) 1 where the talk's text names the tag (by name or synonym), else 0."""
        out = np.zeros((len(texts), self.n_tags), dtype=np.float32)
        for i, text in enumerate(texts):
            for term in self.matches(text):
                out[i, list(self.terms[term])] = 1.0
        return out
