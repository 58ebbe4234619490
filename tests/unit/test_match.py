"""The vectorised screen of incident.match against numpy's own set test."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from incident.match import _among

INTS = st.lists(st.integers(-2**63, 2**63 - 1), max_size=60)


@settings(max_examples=200, deadline=None)
@given(INTS, INTS, st.lists(st.integers(-3, 3), max_size=20))
def test_among_is_isin(values: list[int], pool: list[int], small: list[int]) -> None:
    a = np.array(values + small, dtype=np.int64)
    b = np.array(pool + small[::2], dtype=np.int64)
    assert _among(a, b).tolist() == np.isin(a, b).tolist()
