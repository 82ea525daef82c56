"""Each person's recall index, in process: their stored exchanges as a float32 matrix of unit
vectors and their texts, so exact cosine and exact text matching cost milliseconds instead of
a read of every stored exchange per question (FerretDB scans a collection for any filter).

The index only answers; `memory.ConversationMemory` keeps it in step with MongoDB (a loaded
person is refreshed from a small per-person version document, see there). Memory is bounded:
the persons least recently recalled are evicted past `budget_bytes`, and one person holds at
most `capacity` exchanges (their newest).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

Doc = dict[str, Any]
# Python's own cost of a row besides the strings' characters: the list slots, the id and
# conversation id strings, the datetime and the strings' headers.
_ROW_OVERHEAD = 400


@dataclass
class Row:
    """One exchange as recall shows it; `vector` only when it came from the model in use."""

    id: str
    conversation_id: str
    question: str
    answer: str
    created_at: datetime
    vector: Sequence[float] | None


class PersonIndex:
    """One person's exchanges: rows in arrival order, deleted rows masked until compacted."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.lock = asyncio.Lock()
        self.clear()

    def clear(self) -> None:
        """Forget every row: the next refresh loads the person again."""
        self.rows: list[Row] = []
        self.positions: dict[str, int] = {}
        self._alive: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._has_vector: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._times: npt.NDArray[np.float64] = np.zeros(0, dtype=np.float64)
        self._matrix: npt.NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)
        self._text_bytes = 0
        self._joined: tuple[str, npt.NDArray[np.int64], int] | None = None
        # In step with the version document: exchanges added and conversations deleted.
        self.loaded = False
        self.added = 0
        self.deletions = 0

    @property
    def dimensions(self) -> int:
        return int(self._matrix.shape[1])

    def __len__(self) -> int:
        return int(self._alive[: len(self.rows)].sum())

    def nbytes(self) -> int:
        return (
            self._matrix.nbytes
            + self._alive.nbytes
            + self._has_vector.nbytes
            + self._times.nbytes
            + self._text_bytes
            + len(self.rows) * _ROW_OVERHEAD
        )

    def add(self, rows: Sequence[Row]) -> None:
        """Add rows not yet held (by id), then keep only the newest `capacity`."""
        fresh = [row for row in rows if row.id not in self.positions]
        if not fresh:
            return
        if not self.dimensions:
            first = next((row.vector for row in fresh if row.vector), None)
            if first is not None:
                self._matrix = np.zeros((len(self._alive), len(first)), dtype=np.float32)
        self._grow(len(self.rows) + len(fresh))
        for row in fresh:
            at = len(self.rows)
            # The vector lives in the matrix only: a list of Python floats is 8 times larger.
            self.rows.append(replace(row, vector=None))
            self.positions[row.id] = at
            self._alive[at] = True
            self._times[at] = row.created_at.timestamp()
            self._text_bytes += len(row.question) + len(row.answer)
            unit = self._unit(row.vector)
            self._has_vector[at] = unit is not None
            self._matrix[at] = 0.0 if unit is None else unit
        if len(self) > self.capacity:
            live = [i for i in range(len(self.rows)) if self._alive[i]]
            live.sort(key=lambda i: self.rows[i].created_at)
            for i in live[: len(live) - self.capacity]:
                self._alive[i] = False
        self._compact_if_sparse()

    def shrink(self) -> None:
        """Give back the room grown for appends (after a load)."""
        count = len(self.rows)
        self._matrix = self._matrix[:count].copy()
        self._alive = self._alive[:count].copy()
        self._has_vector = self._has_vector[:count].copy()
        self._times = self._times[:count].copy()

    def drop_conversations(self, conversation_ids: set[str]) -> None:
        for i, row in enumerate(self.rows):
            if row.conversation_id in conversation_ids:
                self._alive[i] = False
        self._compact_if_sparse()

    def expire(self, before: datetime) -> None:
        """Drop the rows past retention (what the TTL index or the purge deletes)."""
        count = len(self.rows)
        self._alive[:count] &= self._times[:count] >= before.timestamp()
        self._compact_if_sparse()

    def by_meaning(self, query: Sequence[float], k: int) -> list[tuple[Row, float]]:
        """The `k` live rows most similar to `query`: (1 + cosine) / 2, best first, equal
        similarity newest first; rows without a comparable vector never."""
        count = len(self.rows)
        if not count or len(query) != self.dimensions:
            return []
        norm = float(np.linalg.norm(np.asarray(query, dtype=np.float64)))
        if norm == 0:
            return []
        unit = (np.asarray(query, dtype=np.float64) / norm).astype(np.float32)
        # einsum, not `@`: a matrix-vector product this size is memory-bound, and BLAS's
        # threads only wait on each other (ten times slower on a busy machine).
        cosines = np.einsum("ij,j->i", self._matrix[:count], unit)
        eligible = self._alive[:count] & self._has_vector[:count]
        candidates = np.flatnonzero(eligible)
        if not len(candidates):
            return []
        scores = cosines[candidates]
        if len(candidates) > k:
            best = np.argpartition(-scores, k - 1)[:k]
            candidates, scores = candidates[best], scores[best]
        pairs = zip(candidates.tolist(), scores.tolist(), strict=True)
        found = [(self.rows[i], (1 + cosine) / 2) for i, cosine in pairs]
        found.sort(key=lambda pair: (pair[1], pair[0].created_at), reverse=True)
        return found

    def similarity(self, row: Row, query: Sequence[float]) -> float:
        at = self.positions[row.id]
        if not self._has_vector[at] or len(query) != self.dimensions:
            return 0.0
        norm = float(np.linalg.norm(np.asarray(query, dtype=np.float64)))
        if norm == 0:
            return 0.0
        cosine = float(self._matrix[at].astype(np.float64) @ np.asarray(query)) / norm
        return (1 + cosine) / 2

    def by_text(self, terms: Sequence[str], limit: int) -> list[Row]:
        """The newest `limit` live rows holding any term verbatim in the question or answer:
        each term is searched once in all the texts joined (C speed, not a loop per row)."""
        if not terms or not self.rows:
            return []
        haystack, starts = self._texts()
        hits: set[int] = set()
        for term in terms:
            at = haystack.find(term)
            while at != -1:
                hits.add(int(np.searchsorted(starts, at, side="right")) - 1)
                at = haystack.find(term, at + 1)
        found = [self.rows[i] for i in hits if self._alive[i]]
        found.sort(key=lambda row: row.created_at, reverse=True)
        return found[:limit]

    def _texts(self) -> tuple[str, npt.NDArray[np.int64]]:
        """Every row's question and answer joined by separators no term holds, with where each
        row starts; built again only after rows were added or compacted."""
        if self._joined is None or self._joined[2] != len(self.rows):
            parts = [f"{row.question}\x01{row.answer}\x00" for row in self.rows]
            starts = np.cumsum([0, *(len(part) for part in parts[:-1])], dtype=np.int64)
            self._joined = ("".join(parts), starts, len(self.rows))
        return self._joined[0], self._joined[1]

    def _unit(self, vector: Sequence[float] | None) -> npt.NDArray[np.float32] | None:
        if not vector or len(vector) != self.dimensions:
            return None
        array = np.asarray(vector, dtype=np.float64)
        norm = float(np.linalg.norm(array))
        return None if norm == 0 else (array / norm).astype(np.float32)

    def _grow(self, needed: int) -> None:
        """Capacity grows by a quarter, so appending one exchange at a time costs O(1) on
        average while the spare room stays small (the matrix is most of a person's memory)."""
        if needed <= len(self._alive):
            return
        size = max(needed, len(self._alive) + len(self._alive) // 4 + 64)
        matrix = np.zeros((size, self.dimensions), dtype=np.float32)
        matrix[: len(self.rows)] = self._matrix[: len(self.rows)]
        self._matrix = matrix
        self._alive = np.concatenate([self._alive, np.zeros(size - len(self._alive), bool)])
        self._has_vector = np.concatenate(
            [self._has_vector, np.zeros(size - len(self._has_vector), bool)]
        )
        self._times = np.concatenate([self._times, np.zeros(size - len(self._times))])

    def _compact_if_sparse(self) -> None:
        """Rewrite without the dead rows once they are half of the rows."""
        count = len(self.rows)
        keep = np.flatnonzero(self._alive[:count])
        if count - len(keep) <= max(16, count // 2):
            return
        self.rows = [self.rows[int(i)] for i in keep]
        self.positions = {row.id: i for i, row in enumerate(self.rows)}
        self._matrix = self._matrix[keep].copy()
        self._has_vector = self._has_vector[keep].copy()
        self._times = self._times[keep].copy()
        self._alive = np.ones(len(keep), dtype=bool)
        self._joined = None
        self._text_bytes = sum(len(row.question) + len(row.answer) for row in self.rows)


@dataclass
class IndexCache:
    """The loaded persons, least recently recalled first; evicted past `budget_bytes`."""

    budget_bytes: int
    capacity: int
    persons: OrderedDict[str, PersonIndex] = field(default_factory=OrderedDict)

    def get(self, user: str) -> PersonIndex | None:
        index = self.persons.get(user)
        if index is not None:
            self.persons.move_to_end(user)
        return index

    def put(self, user: str, index: PersonIndex) -> None:
        self.persons[user] = index
        self.persons.move_to_end(user)
        self.evict(keep=user)

    def drop(self, user: str) -> None:
        self.persons.pop(user, None)

    def evict(self, keep: str) -> None:
        """Evict the least recently recalled persons, never `keep`, until within budget."""
        while self.nbytes() > self.budget_bytes:
            victim = next((user for user in self.persons if user != keep), None)
            if victim is None:
                return
            del self.persons[victim]

    def nbytes(self) -> int:
        return sum(index.nbytes() for index in self.persons.values())


def row_of(doc: Doc, model: str) -> Row:
    """An assistant message as a row; its embedding only when `model` made it."""
    vector = doc.get("embedding") if doc.get("embedding_model") == model else None
    return Row(
        str(doc["_id"]),
        str(doc["conversation_id"]),
        str(doc.get("question", "")),
        str(doc.get("content", "")),
        doc["created_at"],
        vector,
    )


def doc_of(row: Row, similarity: float) -> Doc:
    """A row in the shape recall scores (the stored message's fields)."""
    return {
        "_id": row.id,
        "conversation_id": row.conversation_id,
        "question": row.question,
        "content": row.answer,
        "created_at": row.created_at,
        "similarity": similarity,
    }
