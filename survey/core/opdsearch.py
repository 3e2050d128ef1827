"""Finding the OPD a citizen visited by what they type: a name, a short name, a part of either.

Matching ignores case and accents and works on word beginnings, as people type on a phone:
"dinas kes" finds Dinas Kesehatan, "RSUD" the Rumah Sakit Umum Daerah. Each word typed must
begin a word of the OPD's name, short name or slug, or, for words of three letters or more,
appear inside its short name, often a run-together abbreviation ("dukcapil" in Disdukcapil).
Plain string operations only: nothing typed is ever read as a pattern.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

QUERY_MAX_LENGTH = 100  # characters of a query read; the rest is ignored
QUERY_MAX_WORDS = 8
INSIDE_MIN_LENGTH = 3  # shorter words only match a word's beginning
_T = TypeVar("_T")
_WORD = re.compile(r"[0-9a-z]+")


def fold(text: str) -> str:
    """Return ``text`` in lower case without accents (é → e), for comparing what people type."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.casefold()


def words(text: str) -> tuple[str, ...]:
    """Return the folded words (letters and digits) of ``text``."""
    return tuple(_WORD.findall(fold(text)))


def query_words(query: str | None) -> tuple[str, ...]:
    """Return the words of a typed query, cut to the limits (none for a blank query)."""
    return words((query or "")[:QUERY_MAX_LENGTH])[:QUERY_MAX_WORDS]


@dataclass(frozen=True)
class SearchKey:
    """What a query is compared with for one OPD, folded once."""

    words: tuple[str, ...]  # the words of the name, the short name and the slug
    compact: tuple[str, ...]  # the short name without spaces or hyphens (if it has one)

    @classmethod
    def of(cls, *, name: str, short_name: str | None, slug: str) -> SearchKey:
        """Return the key of an OPD."""
        compact = ("".join(words(short_name)),) if short_name else ()
        return cls(words=words(f"{name} {short_name or ''} {slug}"), compact=compact)

    def matches(self, wanted: Sequence[str]) -> bool:
        """Return True when every wanted word begins a word here (or lies in a compact name)."""
        return all(self._has(word) for word in wanted)

    def _has(self, word: str) -> bool:
        """Return True when ``word`` begins one of the words, or lies inside a compact name."""
        if any(own.startswith(word) for own in self.words):
            return True
        return len(word) >= INSIDE_MIN_LENGTH and any(word in text for text in self.compact)


def search(items: Iterable[tuple[_T, SearchKey]], query: str | None) -> list[_T]:
    """Return the items whose key matches ``query``, in the order given (all for a blank one)."""
    wanted = query_words(query)
    return [item for item, key in items if key.matches(wanted)]


def sort_key(name: str) -> str:
    """Return the key that sorts OPD names as a reader expects (no case, no accents)."""
    return fold(name)
