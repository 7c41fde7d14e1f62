"""Taking values from chunked Arrow text without joining the chunks."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pyarrow as pa

from coverage.arrowtext import take, take_sorted


def _chunked() -> pa.ChunkedArray:
    words = [f"id-{i:05d}" for i in range(1000)]
    cuts = [0, 1, 130, 130, 400, 999, 1000]  # an empty chunk and one-value chunks included
    return pa.chunked_array(
        [pa.array(words[a:b], pa.large_string()) for a, b in pairwise(cuts)],
        pa.large_string(),
    )


def test_take_matches_a_joined_take_in_any_order_with_repeats():
    values = _chunked()
    joined = values.combine_chunks()
    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 500, 3000):
        rows = rng.integers(0, len(values), n)
        expected = joined.take(pa.array(rows, pa.int64()))
        assert take(values, rows).equals(expected)
        ordered = np.sort(rows)
        assert take_sorted(values, ordered).equals(joined.take(pa.array(ordered, pa.int64())))
    # the first and last value of every chunk
    edges = np.array([0, 1, 129, 130, 399, 400, 998, 999])
    assert take(values, edges[::-1]).to_pylist() == [f"id-{i:05d}" for i in edges[::-1]]


def test_take_from_a_plain_array():
    values = pa.array(["a", "b", None, "d"])
    assert take(values, np.array([3, 2, 0])).to_pylist() == ["d", None, "a"]
