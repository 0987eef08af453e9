"""The stream worker's prediction-log rows: one per record, its stream entry id as request id, protocol
"stream", and the worker that scored it as the replica."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from burnout.stream_worker import log_table
from burnout_api.core.loaded_model import BatchPrediction, ModelMetadata
from burnout_api.schemas import EXAMPLE_RECORD
from burnout_api.validation import validate_records
from monitoring.prediction_log import SCHEMA


def test_rows_name_the_worker_that_scored_them():
    batch = validate_records([EXAMPLE_RECORD] * 2, 10)
    model = ModelMetadata(4, "lightgbm", "run", "ds", {}, datetime.now(UTC))
    prediction = BatchPrediction(model, ["Low", "High"], np.array([[0.8, 0.1, 0.1], [0.1, 0.2, 0.7]]))

    table = log_table(["1-0", "1-1"], batch, prediction, "stream-worker-3")

    rows = table.to_pylist()
    assert table.schema == SCHEMA
    assert [(r["request_id"], r["protocol"], r["predicted_class"]) for r in rows] == [
        ("1-0", "stream", "Low"),
        ("1-1", "stream", "High"),
    ]
    assert [r["replica"] for r in rows] == ["stream-worker-3", "stream-worker-3"]
