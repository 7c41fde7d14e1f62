"""Free-text search over an address index: exact street, prefix, street plus town, fuzzy.

:class:`TextSearch` holds the searching half of :class:`coverage.lookup.AddressIndex`: the arrays it
reads are the index's, sorted by (street, house number, letter, postcode), so a street or a street
prefix is one contiguous slice found with ``np.searchsorted`` and every filter is an integer
comparison. Fuzzy matching (rapidfuzz) runs over the distinct street names only, restricted to
streets that have the asked house number or postcode, and only when no stricter tier answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from rapidfuzz import fuzz, process

from coverage.addressquery import ParsedQuery, parse_query, prefix_range
from coverage.errors import NotFoundError

#: Fuzzy street scores (rapidfuzz ratio, 0-100): to answer, and to suggest.
_FUZZY_ANSWER, _FUZZY_SUGGEST = 75.0, 55.0
#: Suggestions a not-found answer carries at most.
MAX_SUGGESTIONS = 5


class Hit(NamedTuple):
    """One found address: index entry, id, display text and how it was found."""

    entry: int
    id: str
    text: str
    quality: str
    position_known: bool


class TextSearch:
    """Search by free text; mixed into :class:`coverage.lookup.AddressIndex`, whose arrays these
    are (see there)."""

    streets: np.ndarray
    street_start: np.ndarray
    street_list: list[str]
    towns: np.ndarray
    town_list: list[str]
    street_id: np.ndarray
    num: np.ndarray
    letter: np.ndarray
    postnr: np.ndarray
    town_id: np.ndarray
    subtown_id: np.ndarray
    addr_row: np.ndarray

    def hit(self, entry: int, quality: str) -> Hit:
        """The search result for one entry (the index's)."""
        raise NotImplementedError

    def suggestions(self, entries: np.ndarray) -> list[dict[str, str]]:
        """``{id, text}`` suggestions for entries (the index's)."""
        raise NotImplementedError

    def _street_entries(self, street_ids: np.ndarray) -> np.ndarray:
        """Entries of the given streets, in the order the streets are given."""
        if len(street_ids) == 0:
            return np.empty(0, dtype=np.int64)
        starts, ends = self.street_start[street_ids], self.street_start[street_ids + 1]
        return np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])

    def _town_ids(self, town: str, *, fuzzy: bool) -> np.ndarray:
        lo, hi = prefix_range(self.towns, town)
        found = np.arange(lo, hi)
        if fuzzy and len(found) == 0:
            hits = process.extract(
                town, self.town_list, scorer=fuzz.ratio, score_cutoff=80, limit=10
            )
            found = np.array([h[2] for h in hits], dtype=np.int64)
        return found

    def _filter(self, entries: np.ndarray, q: ParsedQuery, *, partial: bool) -> np.ndarray:
        """Keep entries matching the number (prefix when typing), letter, postcode and town."""
        keep = np.ones(len(entries), dtype=bool)
        if q.number is not None:
            num = self.num[entries]
            if partial and q.last == "number":
                p = q.number
                keep &= (num == p) | (num // 10 == p) | ((num // 100 == p) & (num >= 100))
            else:
                keep &= num == q.number
                if q.letter or not partial:
                    keep &= self.letter[entries] == q.letter
        if q.postcode is not None:
            scale = 10 ** (4 - len(q.postcode))
            keep &= self.postnr[entries] // scale == int(q.postcode)
        if q.town:
            towns = self._town_ids(q.town, fuzzy=not partial)
            keep &= np.isin(self.town_id[entries], towns) | np.isin(self.subtown_id[entries], towns)
        return entries[keep]

    def _fuzzy_streets(
        self, q: ParsedQuery, cutoff: float, *, use_number: bool = True
    ) -> list[np.ndarray]:
        """Street ids by fuzzy score, grouped by equal score, best first; restricted to streets
        having the asked postcode (and house number) so a typo cannot jump to another town."""
        if not q.street:
            return []
        mask = None
        if q.postcode is not None and len(q.postcode) == 4:
            mask = self.postnr == int(q.postcode)
        if use_number and q.number is not None:
            by_number = self.num == q.number
            mask = by_number if mask is None else mask & by_number
        if mask is None:
            pool, choices = np.arange(len(self.streets)), self.street_list
        else:  # bincount, not np.unique: no sort of up to 850,000 ids
            pool = np.flatnonzero(np.bincount(self.street_id[mask], minlength=len(self.streets)))
            choices = self.streets[pool].tolist()
        found = process.extract(q.street, choices, scorer=fuzz.ratio, score_cutoff=cutoff, limit=20)
        groups: dict[float, list[int]] = {}
        for _, score, k in found:
            groups.setdefault(round(score, 3), []).append(int(pool[k]))
        return [np.array(groups[s]) for s in sorted(groups, reverse=True)]

    def _tiers(self, q: ParsedQuery) -> Iterator[tuple[str, np.ndarray, ParsedQuery]]:
        """Candidate streets from strictest to loosest: exact, prefix, street + town, fuzzy.

        A generator: the fuzzy tier (rapidfuzz over thousands of streets, ~0.4 ms) is only scored
        when no stricter tier found anything.
        """
        lo, hi = prefix_range(self.streets, q.street)
        if lo < hi and self.streets[lo] == q.street:
            yield ("exact", np.array([lo]), q)
            lo += 1
        if lo < hi:
            yield ("prefix", np.arange(lo, hi), q)
        # Without a house number the town may be glued to the street: "strandvejen samsoe".
        for k in range(1, len(q.words) if q.number is None and not q.town else 0):
            split = q._replace(street="".join(q.words[:-k]), town="".join(q.words[-k:]))
            i = int(np.searchsorted(self.streets, split.street))
            if i < len(self.streets) and self.streets[i] == split.street:
                yield ("exact", np.array([i]), split)
        for ids in self._fuzzy_streets(q, _FUZZY_ANSWER):
            yield ("fuzzy", ids, q)

    def search(self, text: str, limit: int = 10) -> list[Hit]:
        """Addresses matching free text, best first: exact street, then prefix, then fuzzy.

        The first tier that finds anything answers; within it, entries keep index order (street,
        number, letter, postcode). An empty list means nothing matched (see :meth:`suggest`).
        """
        q = parse_query(text)
        if not q.street:
            return []
        for quality, streets, tq in self._tiers(q):
            found = self._filter(self._street_entries(streets), tq, partial=False)
            if len(found):
                return [self.hit(e, quality) for e in found[:limit]]
        return []

    def suggest(self, text: str) -> list[dict[str, str]]:
        """Up to five near misses for text that found nothing: the closest house numbers on the
        best-matching street (in the asked postcode when it has the street)."""
        q = parse_query(text)
        if not q.street:
            return []
        streets = next((s for _, s, _ in self._tiers(q._replace(number=None))), None)
        if streets is None:
            groups = self._fuzzy_streets(q, _FUZZY_SUGGEST, use_number=False)
            streets = np.concatenate(groups) if groups else None
        if streets is None:
            return []
        entries = self._street_entries(streets)
        if q.postcode is not None:  # prefer the asked postcode, if the street is there at all
            same = entries[self.postnr[entries] == int(q.postcode)]
            entries = same if len(same) else entries
        if q.number is not None:
            rank = np.abs(self.num[entries].astype(np.int32) - q.number)
            entries = entries[np.argsort(rank, kind="stable")]
        return self.suggestions(entries)

    def resolve(self, text: str) -> Hit:
        """The one address the text names, or NotFoundError with up to five suggestions."""
        q = parse_query(text)
        if not q.street:
            raise NotFoundError(
                f"{text!r} names no street; write e.g. 'Strandvejen 52, 8305 Samsø'"
            )
        hits = self.search(text, limit=MAX_SUGGESTIONS + 1)
        if len(hits) == 1 and q.number is not None:
            return hits[0]
        if len(hits) > 1 and q.number is not None:
            # A register address beats mapping rows that matched no address ("M.B. Jensensvej 5"
            # against an unmatched row spelt "M.B. Jensens Vej 5"); two register addresses in
            # different towns stay ambiguous.
            registered = [h for h in hits if self.addr_row[h.entry] >= 0]
            if len(registered) == 1:
                return registered[0]
        if hits:
            pairs = [{"id": h.id, "text": h.text} for h in hits[:MAX_SUGGESTIONS]]
            hint = "add the house number" if q.number is None else "add the postcode or town"
            count = f"{len(hits)}" if len(hits) <= MAX_SUGGESTIONS else "several"
            raise NotFoundError(f"{text!r} matches {count} addresses: {hint}", pairs)
        raise NotFoundError(f"no address matches {text!r}", self.suggest(text))

    def autocomplete(self, text: str, limit: int = 10) -> list[Hit]:
        """Addresses for text being typed: prefix matches (exact street first), then fuzzy ones."""
        q = parse_query(text, partial=True)
        if not q.street:
            return []
        lo, hi = prefix_range(self.streets, q.street)
        candidates = np.arange(self.street_start[lo], self.street_start[hi])
        if q.number is None and q.postcode is None and not q.town:
            found = candidates[:limit]  # already in (street, number) order; exact street first
        else:
            found = self._filter(candidates, q, partial=True)
            if len(found) == 0 and q.last == "letter":  # "strandvejen 52 s": maybe Samsø
                q = q._replace(letter=0, town=chr(q.letter + 96), last="town")
                found = self._filter(candidates, q, partial=True)
            if q.number is not None and len(found) > 1:
                exact = self.num[found] != q.number
                found = found[np.lexsort((exact, self.street_id[found]))]
        hits = [self.hit(e, "prefix") for e in found[:limit]]
        if len(hits) < limit:
            seen = {h.entry for h in hits}
            for streets in self._fuzzy_streets(q, _FUZZY_ANSWER):
                for e in self._filter(self._street_entries(streets), q, partial=True):
                    if len(hits) >= limit:
                        return hits
                    if int(e) not in seen:
                        hits.append(self.hit(e, "fuzzy"))
        return hits


__all__ = ["MAX_SUGGESTIONS", "Hit", "TextSearch"]
