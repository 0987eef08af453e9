"""Values fit for XCom and JSON output: numpy scalars become plain numbers."""

from __future__ import annotations

import json

import numpy as np

from burnout_base.plain import to_plain


def test_to_plain_turns_numpy_into_json_types():
    value = to_plain({"f1": np.float64(0.5), "n": np.int64(3), "nested": [np.float32(1.5)]})

    assert value == {"f1": 0.5, "n": 3, "nested": [1.5]}
    assert json.dumps(value)
