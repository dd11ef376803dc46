"""Micro-batching of query embeddings: concurrent requests share one model call.

On a CPU, encoding eight short queries together costs little more than encoding one, while eight
separate calls queue behind each other. The first waiting thread becomes the leader, encodes
everything pending, and hands each thread its vector; a thread that arrives meanwhile joins the next batch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class _Slot:
    text: str
    vector: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = False


class BatchingEncoder:
    """Thread-safe `encode_one(text)` over a batch `encode(texts) -> matrix` function."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray], max_batch: int = 32):
        self.encode = encode
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._pending: list[_Slot] = []
        self._busy = False

    def __call__(self, text: str) -> np.ndarray:
        slot = _Slot(text)
        with self._cond:
            self._pending.append(slot)
            while not slot.done:
                if self._busy:
                    self._cond.wait()
                    continue
                self._busy = True
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                self._cond.release()
                try:
                    self._run(batch)
                finally:
                    self._cond.acquire()
                    self._busy = False
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
        return slot.vector

    def _run(self, batch: list[_Slot]) -> None:
        try:
            vectors = self.encode([s.text for s in batch])
            for slot, vector in zip(batch, vectors):
                slot.vector = vector.copy()  # a row view would keep the whole batch matrix alive in caches
        except BaseException as exc:  # every waiting request must learn about the failure
            for slot in batch:
                slot.error = exc
        for slot in batch:
            slot.done = True


class QueryEncoder:
    """Query text -> unit vector: memoised (engineers repeat searches), concurrent calls batched, and
    one model call at a time (concurrent calls would only compete for the same cores)."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray], memo: int = 4096):
        self._encode = encode
        self._lock = threading.Lock()
        self._one = BatchingEncoder(self.encode_many)
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memo_size = memo

    def encode_many(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return self._encode(texts)

    def __call__(self, text: str) -> np.ndarray:
        cached = self._memo.get(text)
        if cached is None:
            cached = self._one(text)
            self._memo[text] = cached
            if len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return cached
