"""History tracking: from an Ensembl object at some time to the objects alive at the target release.

An Ensembl stable ID names the same object for as long as it exists (its version may change or be unknown:
a missing version is not a break in history). ID-changing ``stable_id_event`` rows (merges, splits,
replacements) are edges in time: ``old`` existed at ``old_time`` and continued as ``new`` at ``new_time``.
Tracking forward follows edges whose ``old_time`` is not before the current time and whose ``new_time`` is not
after the target; backward tracking mirrors this. Every path keeps its minimum score and its number of steps.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from idtrack_core.graph.model import Snapshot

MAX_STEPS = 64


@dataclass(frozen=True)
class Candidate:
    """An object alive at the target release, with the best path that reaches it."""

    obj: int
    score: float
    steps: int

    @property
    def rank(self) -> tuple[float, int]:
        """Higher is better: score first, then fewer steps."""
        return (self.score, -self.steps)


@dataclass(frozen=True)
class State:
    """Being at ``obj`` at ``time``, having come along a path of ``steps`` with minimum ``score``."""

    obj: int
    time: float
    score: float
    steps: int
    forward: bool


class HistoryWalker:
    """Walks ID-changing history events towards ``target`` (a release of the snapshot, as a time in history)."""

    def __init__(self, snap: Snapshot, target: float, alive: np.ndarray) -> None:
        self.target = float(target)
        self.alive = alive
        e = snap.tables["events"]
        keep = (
            (e["old_obj"] >= 0)
            & (e["new_obj"] >= 0)
            & (e["old_obj"] != e["new_obj"])
            & e["old_time"].notna()
            & e["new_time"].notna()
            & (e["new_time"] > e["old_time"])
        )
        e = e[keep]
        score = e["score"].astype("float64").fillna(0.0).to_numpy()
        self._out: dict[int, list[tuple[float, float, int, float]]] = defaultdict(list)
        self._in: dict[int, list[tuple[float, float, int, float]]] = defaultdict(list)
        for old, new, t0, t1, s in zip(
            e["old_obj"].to_numpy(),
            e["new_obj"].to_numpy(),
            e["old_time"].to_numpy(),
            e["new_time"].to_numpy(),
            score,
            strict=True,
        ):
            self._out[int(old)].append((float(t0), float(t1), int(new), float(s)))
            self._in[int(new)].append((float(t1), float(t0), int(old), float(s)))

        self.has_events_mask = np.zeros(len(alive), dtype=bool)
        for objs in (self._out, self._in):
            if objs:
                self.has_events_mask[np.fromiter(objs.keys(), dtype=np.int64)] = True

    def walk(self, obj: int, lo: float, hi: float, visited: list[State] | None = None) -> dict[int, Candidate]:
        """Objects alive at the target reachable from ``obj`` anchored in times ``lo``..``hi``.

        Every state the walk passes through is appended to ``visited`` when given (for bridges).
        """
        found: dict[int, Candidate] = {}
        if lo <= self.target:
            self.search(State(obj, lo, 1.0, 0, True), found, visited)
        if hi >= self.target:
            self.search(State(obj, hi, 1.0, 0, False), found, visited)
        return found

    def search(self, start: State, found: dict[int, Candidate], visited: list[State] | None = None) -> None:
        """Walk from ``start`` in its direction, adding every object alive at the target to ``found``."""
        target = self.target
        stack = [start]
        seen: dict[tuple[int, float], tuple[float, int]] = {}
        while stack:
            state = stack.pop()
            y, t, score, steps = state.obj, state.time, state.score, state.steps
            best = seen.get((y, t))
            if best is not None and best >= (score, -steps):
                continue
            seen[(y, t)] = (score, -steps)
            if visited is not None:
                visited.append(state)
            if self.alive[y]:
                cand = Candidate(y, score, steps)
                if y not in found or cand.rank > found[y].rank:
                    found[y] = cand
            if steps >= MAX_STEPS:
                continue
            if state.forward:
                for t0, t1, new, s in self._out.get(y, ()):
                    if t0 >= t and t1 <= target:
                        stack.append(State(new, t1, min(score, s), steps + 1, True))
            else:
                for t1, t0, old, s in self._in.get(y, ()):
                    if t1 <= t and t0 >= target:
                        stack.append(State(old, t0, min(score, s), steps + 1, False))


def best_candidates(found: dict[int, Candidate]) -> list[Candidate]:
    """``strategy="best"``: the candidates whose (score, steps) rank ties for the top."""
    if not found:
        return []
    top = max(c.rank for c in found.values())
    return sorted((c for c in found.values() if c.rank == top), key=lambda c: c.obj)
