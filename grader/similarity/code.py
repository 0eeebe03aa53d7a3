"""Code similarity: copydetect's winnowed fingerprints of token streams, compared pair by pair.

copydetect (the approach of MOSS) tokenizes Python with pygments and replaces every variable,
attribute, function and class name by one letter, strings by ``S``, and drops comments and
whitespace; renaming, re-commenting and reformatting change nothing it sees. Each run of
``NOISE`` characters of that token text is hashed; two documents match where they share hashes,
and ``compare_files`` maps the shared runs back to regions of the original text.

Two kinds of shared code are not evidence and are dropped from the fingerprints before pairs are
compared:

- boilerplate: every hash of what students were handed (``documents.boilerplate_texts``);
- common passages: a hash found in more than ``common`` submissions (MOSS's ``-m``: 10, less in a
  small class, ``run.default_common``) is an idiom or an answer everyone writes alike, not copying
  between two of them. It also keeps the comparison near linear in the class size. The reference
  keeps these: a passage many students took from a leaked reference is still flagged, student by
  student, against the reference.

Nothing of the reference is boilerplate: copying it is what must be flagged.

A side's share is copydetect's similarity: the matched token characters over that document's
token characters (after boilerplate). A pair's code score is the larger share: a copier who
padded their copy with code of their own still shows a source that is wholly inside it.

Tokenizing (pygments' lexer) is the costly part and makes no hash: other processes or Dask workers
may do it (``tokenize_block``). Python's ``hash`` of a string differs between processes, so the
hashes of a run are all made in one process (the client), and workers only compare them
(``compare_block``). With a winnowing window of 1 every hash is kept, so the matches do not depend
on the hash values and a run is reproducible.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
from copydetect import compare_files
from copydetect.utils import filter_code, get_document_fingerprints, get_token_coverage

NOISE = 25
"""Shortest run of token characters that counts as a match (copydetect's default noise threshold)."""
COMMON = 10
"""A passage in more than this many submissions is treated as shared by everyone (MOSS's -m)."""
MIN_TOKENS = 2 * NOISE
"""A side with fewer token characters than this (a near-empty submission) shares nothing."""


@dataclass(frozen=True)
class CodePrint:
    """A document's fingerprint, in the shape ``copydetect.compare_files`` reads.

    Plain data (sets, dicts, an array), made on the client and sent to Dask workers as is.
    """

    id: str
    k: int
    hashes: frozenset[int]
    hash_idx: dict[int, list[int]]
    """Hash -> positions in the token text where its run starts."""
    filtered_code: str
    offsets: np.ndarray
    """copydetect's map from token-text positions back to the original text."""
    token_coverage: float
    """Token characters covered by the fingerprint after boilerplate: every share's denominator."""

    def without(self, dropped: frozenset[int]) -> "CodePrint":
        """The same print without the hashes ``dropped`` (common passages), keeping its denominator."""
        if not dropped & self.hashes:
            return self
        kept = {value: positions for value, positions in self.hash_idx.items() if value not in dropped}
        return replace(self, hashes=frozenset(kept), hash_idx=kept)


@dataclass(frozen=True)
class CodeMatch:
    """What two documents share: each side's share and the matched regions of each text."""

    a: str
    b: str
    share_a: float
    share_b: float
    tokens: int
    """Matched token characters (of ``a``)."""
    regions_a: tuple[tuple[int, int], ...] = ()
    """(start, end) character offsets of the matched regions in ``a``'s text."""
    regions_b: tuple[tuple[int, int], ...] = ()

    @property
    def score(self) -> float:
        return max(self.share_a, self.share_b)


@dataclass(frozen=True)
class Tokens:
    """copydetect's token text of some Python code, and its map back to the code: the costly part of
    a fingerprint (pygments' lexer), and free of hashes, so any process can make it."""

    text: str
    offsets: np.ndarray


def tokenize(code: str) -> Tokens:
    """The token text of ``code``: names replaced by V, F or O, strings by S, comments and layout dropped."""
    text, offsets = filter_code(code, "code.py", language="python")
    return Tokens(text=text, offsets=np.asarray(offsets))


def tokenize_block(codes: Sequence[str]) -> list[Tokens]:
    """``tokenize`` of each of ``codes``: one task of a run's tokenizing (a process, a Dask task)."""
    return [tokenize(code) for code in codes]


def _hashes(tokens: Tokens, k: int) -> dict[int, list[int]]:
    """Every k-gram hash of the token text and where it starts (a winnowing window of 1 keeps all)."""
    _, positions = get_document_fingerprints(tokens.text, k, 1)
    return {int(value): [int(i) for i in where] for value, where in positions.items()}


def boilerplate_hashes(codes: Iterable[str], k: int = NOISE) -> frozenset[int]:
    """Every hash of the code students were handed."""
    found: set[int] = set()
    for code in codes:
        found |= _hashes(tokenize(code), k).keys()
    return frozenset(found)


def fingerprint(document_id: str, tokens: Tokens, boilerplate: frozenset[int] = frozenset(), k: int = NOISE) -> CodePrint:
    """A document's fingerprint with the boilerplate's hashes removed.

    Boilerplate is removed here rather than by copydetect's own argument, which intersects with
    ``assume_unique`` on a list that repeats a hash wherever the code repeats itself.
    """
    kept = {value: where for value, where in _hashes(tokens, k).items() if value not in boilerplate}
    coverage = float(get_token_coverage(kept, k, len(tokens.text))) if kept else 0.0
    return CodePrint(id=document_id, k=k, hashes=frozenset(kept), hash_idx=kept, filtered_code=tokens.text,
                     offsets=tokens.offsets, token_coverage=coverage)


def common_hashes(prints: Iterable[CodePrint], common: int = COMMON) -> frozenset[int]:
    """Hashes found in more than ``common`` of the prints (one count per print)."""
    counts: Counter[int] = Counter()
    for print_ in prints:
        counts.update(print_.hashes)
    return frozenset(value for value, count in counts.items() if count > common)


def candidate_pairs(prints: Sequence[CodePrint]) -> list[tuple[str, str]]:
    """The pairs of prints that share at least one hash, found through an index of who has each hash
    (never all n² pairs): each hash costs the square of the number of prints holding it, which
    ``common_hashes`` bounds."""
    holders: defaultdict[int, list[str]] = defaultdict(list)
    for print_ in prints:
        for value in print_.hashes:
            holders[value].append(print_.id)
    pairs: set[tuple[str, str]] = set()
    for ids in holders.values():
        if len(ids) > 1:
            pairs.update(combinations(sorted(ids), 2))
    return sorted(pairs)


def _regions(slices: np.ndarray) -> tuple[tuple[int, int], ...]:
    if slices.size == 0:
        return ()
    return tuple((int(start), int(end)) for start, end in zip(slices[0], slices[1]))


def _share(value: float, print_: CodePrint) -> float:
    if print_.token_coverage < MIN_TOKENS or not np.isfinite(value):
        return 0.0
    return float(min(1.0, max(0.0, value)))


def compare(a: CodePrint, b: CodePrint) -> CodeMatch:
    """What ``a`` and ``b`` share, by copydetect."""
    tokens, (share_a, share_b), (slices_a, slices_b) = compare_files(a, b)
    if not tokens:
        return CodeMatch(a=a.id, b=b.id, share_a=0.0, share_b=0.0, tokens=0)
    return CodeMatch(a=a.id, b=b.id, share_a=_share(share_a, a), share_b=_share(share_b, b), tokens=int(tokens),
                     regions_a=_regions(slices_a), regions_b=_regions(slices_b))


def compare_block(prints: dict[str, CodePrint], pairs: Sequence[tuple[str, str]], minimum: float) -> list[CodeMatch]:
    """The matches of ``pairs`` scoring at least ``minimum``: one block of a run's comparisons (a Dask
    task, or the whole run on one machine). ``prints`` holds at least every print the pairs name."""
    matches = []
    for a, b in pairs:
        match = compare(prints[a], prints[b])
        if match.tokens and match.score >= minimum:
            matches.append(match)
    return matches
