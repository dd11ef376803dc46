"""Concurrent query embeddings are batched, each caller gets its own vector, failures reach everyone."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from kb.batching import BatchingEncoder


def test_concurrent_calls_share_batches_and_get_their_own_vectors():
    calls: list[int] = []

    def encode(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        time.sleep(0.02)  # a model call takes time; others queue meanwhile
        return np.array([[float(t.split("-")[1])] for t in texts])

    encoder = BatchingEncoder(encode)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: encoder(f"q-{i}"), range(64)))
    assert [float(v[0]) for v in results] == [float(i) for i in range(64)]
    assert sum(calls) == 64 and len(calls) < 64 and max(calls) > 1


def test_an_encoding_error_reaches_every_waiting_caller():
    gate = threading.Event()

    def encode(texts):
        gate.wait(1)
        raise RuntimeError("model failed")

    encoder = BatchingEncoder(encode)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(encoder, f"q-{i}") for i in range(4)]
        gate.set()
        for future in futures:
            with pytest.raises(RuntimeError, match="model failed"):
                future.result(timeout=10)
    encoder.encode = lambda texts: np.ones((len(texts), 2))
    assert encoder("again").tolist() == [1.0, 1.0]  # the encoder is usable after a failure
