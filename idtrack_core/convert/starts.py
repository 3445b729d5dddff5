"""Answers of starting nodes (an Ensembl object anchored in a span of time): one :class:`Answer` each, or many of
them as columns (:class:`StartAnswers`) whose strings are codes into :class:`StringPool` dictionaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa


@dataclass(frozen=True)
class Answer:
    """The answer for one starting node or one name (sets are sorted tuples)."""

    known: bool
    ensembl_genes: tuple[str, ...] = ()
    target_ids: tuple[str, ...] = ()
    fallback: bool = False
    path_length: int | None = None
    min_score: float | None = None
    bridge: str | None = None
    bridge_via: str | None = None

    @property
    def category(self) -> str:
        n = len(self.target_ids)
        return "1:0" if n == 0 else "1:1" if n == 1 else "1:n"

    @property
    def reason(self) -> str | None:
        if self.target_ids:
            return None
        return "no_conversion" if self.known else "no_corresponding"


def merge_answers(answers: Sequence[Answer]) -> Answer:
    """Union of the answers of several starting nodes of one name (no silent pick among them)."""
    if len(answers) == 1:
        return answers[0]
    lengths = [a.path_length for a in answers if a.path_length is not None]
    scores = [a.min_score for a in answers if a.min_score is not None]
    bridges = sorted({a.bridge for a in answers if a.bridge})
    vias = sorted({v for a in answers if a.bridge_via for v in a.bridge_via.split(";")})
    return Answer(
        known=any(a.known for a in answers),
        ensembl_genes=tuple(sorted({g for a in answers for g in a.ensembl_genes})),
        target_ids=tuple(sorted({t for a in answers for t in a.target_ids})),
        fallback=any(a.fallback for a in answers),
        path_length=max(lengths) if lengths else None,
        min_score=min(scores) if scores else None,
        bridge="+".join(bridges) or None,
        bridge_via=";".join(vias) or None,
    )


def joined_per_key(keys: np.ndarray, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by key: the distinct keys and each key's texts joined by ``;`` (in row order)."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, dtype=np.int64)
    ends = np.r_[starts[1:], len(keys)]
    joined = texts[starts].copy()
    for i in np.flatnonzero(ends - starts > 1):
        joined[i] = ";".join(texts[starts[i] : ends[i]])
    return keys[starts], joined


def split(joined: str) -> tuple[str, ...]:
    """A `;`-joined list of ids as a tuple (empty for the empty string)."""
    return tuple(joined.split(";")) if joined else ()


class StringPool:
    """Distinct strings numbered in order of first appearance (the dictionary of a coded answer column)."""

    def __init__(self, strings: Sequence[str] = ()) -> None:
        self.strings: list[str] = list(strings)
        self._code = {s: i for i, s in enumerate(self.strings)}

    def code(self, value: str | None) -> int:
        """The code of ``value`` (added if new); -1 for None."""
        if value is None:
            return -1
        code = self._code.get(value)
        if code is None:
            code = self._code[value] = len(self.strings)
            self.strings.append(value)
        return code

    def codes(self, values: np.ndarray) -> np.ndarray:
        """Codes of many strings (an object array), added as needed."""
        codes, uniques = pd.factorize(values)
        return np.array([self.code(u) for u in uniques], dtype=np.int64)[codes] if len(values) else codes

    def text(self, code: int) -> str | None:
        return None if code < 0 else self.strings[code]

    def arrow(self, codes: np.ndarray) -> pa.Array:
        """The strings of ``codes`` (-1: null) as an Arrow array."""
        return pa.array(self.strings, type=pa.string()).take(pa.array(codes, mask=codes < 0))


@dataclass
class StartAnswers:
    """Answers of starting nodes as columns: string columns are codes into the resolver's pools (-1: none),
    ``path_length`` -1 and ``min_score`` NaN when unknown."""

    genes: np.ndarray
    targets: np.ndarray
    fallback: np.ndarray
    path_length: np.ndarray
    min_score: np.ndarray
    bridge: np.ndarray
    bridge_via: np.ndarray

    def set(self, i: int, answer: Answer, pools: dict[str, StringPool]) -> None:
        """Store ``answer`` as row ``i``."""
        self.genes[i] = pools["ensembl_genes"].code(";".join(answer.ensembl_genes))
        self.targets[i] = pools["target_ids"].code(";".join(answer.target_ids))
        self.fallback[i] = answer.fallback
        self.path_length[i] = -1 if answer.path_length is None else answer.path_length
        self.min_score[i] = np.nan if answer.min_score is None else answer.min_score
        self.bridge[i] = pools["bridge"].code(answer.bridge)
        self.bridge_via[i] = pools["bridge_via"].code(answer.bridge_via)

    def answer(self, i: int, pools: dict[str, StringPool]) -> Answer:
        """Row ``i`` as an :class:`Answer`."""
        length, score = int(self.path_length[i]), float(self.min_score[i])
        return Answer(
            known=True,
            ensembl_genes=split(pools["ensembl_genes"].strings[self.genes[i]]),
            target_ids=split(pools["target_ids"].strings[self.targets[i]]),
            fallback=bool(self.fallback[i]),
            path_length=None if length < 0 else length,
            min_score=None if np.isnan(score) else score,
            bridge=pools["bridge"].text(int(self.bridge[i])),
            bridge_via=pools["bridge_via"].text(int(self.bridge_via[i])),
        )
