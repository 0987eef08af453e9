"""Batch scoring end to end: `burnout score` on the real 22,750 rows accounts for every row and answers the
service's very probabilities for the same records (sent to the inference core as a REST body), and the
`batch_score` DAG runs for real with `dag.test()` on a file in the lake."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from burnout_base.settings import Settings, get_settings
from burnout_cli.app import app
from burnout_dev.airflow_runner import load_dag, run_dag
from etl.contract import BY_NAME, CLASSES, FEATURES
from etl.synthetic import write_synthetic_csv
from modeling.model_io import load_model
from monitoring.prediction_log import PREDICTED_CLASS, PROBABILITY_COLUMNS
from monitoring.score_input import ID_COLUMN
from tests.integration.serving_support import register_synthetic_model

pytestmark = pytest.mark.slow
REAL_ROWS = 22_750


def client_records(path) -> tuple[list[str], list[dict]]:
    """The ids and the records of a CSV as a client sends them: JSON numbers, null for an empty field."""
    ids, records = [], []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            ids.append(row[ID_COLUMN])
            record: dict[str, object] = {}
            for name in FEATURES:
                text, kind = row[name], BY_NAME[name].kind
                if kind == "category":
                    record[name] = text
                elif text == "":
                    record[name] = None
                else:
                    record[name] = int(text) if kind == "integer" else float(text)
            records.append(record)
    return ids, records


@pytest.fixture
def cli_home(tmp_path, monkeypatch) -> Settings:
    """The CLI's environment (BURNOUT_HOME in tmp_path, no .env) and the same settings for the test."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BURNOUT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("BURNOUT_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    settings = Settings(_env_file=None, home=tmp_path / "home")
    settings.ensure_home()
    yield settings
    get_settings.cache_clear()


def test_burnout_score_on_real_dataset_answers_the_services_probabilities(real_dataset, cli_home, tmp_path):
    from burnout_api.core import InferenceCore

    settings = cli_home
    version = register_synthetic_model(settings, aliases=("champion",), rows=2_000)
    output = tmp_path / "scores.parquet"

    result = CliRunner().invoke(app, ["score", "--input", str(real_dataset), "--output", str(output)])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows_in"] == REAL_ROWS == summary["rows_scored"] + summary["rows_quarantined"]
    assert summary["rows_quarantined"] == 0  # the real data honours the contract
    assert summary["model_version"] == version and summary["fast_path"] is True
    assert sum(summary["predicted"].values()) == REAL_ROWS
    scores = pd.read_parquet(output)
    assert len(pd.read_parquet(tmp_path / "scores.quarantine.parquet")) == 0

    ids, records = client_records(real_dataset)
    assert scores[ID_COLUMN].tolist() == ids
    # The service: the same records as one REST body, through the inference core and its own model store.
    core = InferenceCore(settings.model_copy(update={"max_batch": REAL_ROWS}))
    core.refresh()
    answer = core.predict(json.dumps(records).encode())
    assert answer.model.version == version
    assert np.abs(scores[list(PROBABILITY_COLUMNS)].to_numpy() - answer.probabilities).max() <= 1e-9
    assert scores[PREDICTED_CLASS].tolist() == answer.labels
    # And the pipeline itself, on the dataset read by pandas.
    pipeline = load_model(f"models:/{settings.registered_model_name}/{version}")
    expected = pipeline.predict_proba(pd.read_csv(real_dataset)[list(FEATURES)])
    expected = expected[:, [list(pipeline.classes_).index(c) for c in CLASSES]]
    assert np.abs(scores[list(PROBABILITY_COLUMNS)].to_numpy() - expected).max() <= 1e-9


def test_batch_score_dag_scores_partitions_and_accounts_for_every_line(
    airflow_home, make_settings, tmp_path, monkeypatch
):
    import mlflow

    monkeypatch.chdir(tmp_path)  # no .env from the repository reaches the task
    settings = make_settings()
    version = register_synthetic_model(settings, aliases=("champion",))
    source = tmp_path / "batch" / "employees.csv"
    write_synthetic_csv(source, rows=500, seed=5)
    size = source.stat().st_size

    conf = {"input": str(source), "partition_bytes": size // 3}
    result = run_dag(load_dag("batch_score"), settings, conf=conf)

    assert result["state"] == "success", result
    partitions = result["outputs"]["score"]
    assert len(partitions) == 3  # about a third of the file each (the last one a little less)
    summary = result["outputs"]["account"]
    assert summary["rows_in"] == summary["rows_scored"] == 500 and summary["partitions"] == 3
    assert summary["model_version"] == version
    assert sum(summary["hosts"].values(), []) == [0, 1, 2]
    scores = pd.read_parquet(tmp_path / "batch" / "employees.predictions.parquet")
    assert scores["line"].tolist() == list(range(2, 502))  # the file's own lines, the header is line 1
    assert (scores["model_version"] == version).all()
    run = mlflow.MlflowClient(settings.mlflow_tracking_uri).get_run(summary["mlflow_run_id"])
    assert run.data.metrics["rows_scored"] == 500 and run.data.tags["model_version"] == str(version)
    assert json.loads(run.data.tags["hosts"]) == summary["hosts"]
