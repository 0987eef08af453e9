"""The live-evidence loop on the real stack (issue 24): the api shadows the challenger (the CI override sets
BURNOUT_SHADOW_ALIAS=challenger), real employees are predicted with their Employee ID, their real Burn Rate
is posted to /feedback (half by request id, half by employee and window), `model_quality` runs in Airflow,
and the figures it logs to MLflow must equal the same figures computed here, independently, from the
answers the api gave and the outcomes posted."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from journey import REPO, Airflow, Stack, StepFailed, champion_in_mlflow, wait_until
from scale_out import REPLICA_HEADER

DATASET = REPO.parent / "shared" / "data" / "enriched_employee_dataset.csv"
# Fewer labelled rows than BURNOUT_QUALITY_MIN_ROWS (200): a champion judged degraded on them would start a
# retraining run under the steps that follow.
EMPLOYEES = 150
BATCH = 30


def employees(count: int, dataset: Path = DATASET) -> pd.DataFrame:
    """`count` real employees with a Burn Rate and distinct ids (synthetic ones without the dataset)."""
    from etl.contract import TARGET
    from etl.synthetic import generate_synthetic

    frame = pd.read_csv(dataset) if dataset.exists() else generate_synthetic(5 * count, seed=24)
    frame = frame.dropna(subset=[TARGET]).drop_duplicates("Employee ID")
    return frame.sample(count, random_state=24).reset_index(drop=True)


def as_record(row: pd.Series) -> dict:
    """A request record: the features (a missing value left out) and the Employee ID."""
    from etl.contract import FEATURES, IDENTIFIER

    record = {name: row[name] for name in FEATURES if not pd.isna(row[name])}
    record = {k: v.item() if isinstance(v, np.generic) else v for k, v in record.items()}
    return {**record, IDENTIFIER: str(row[IDENTIFIER])}


def set_challenger(stack: Stack, champion: int) -> int:
    """PUT /aliases/challenger onto the newest version that is not the champion; wait until both replicas
    have loaded it (the one that answered at once, the other at its next poll)."""
    from mlflow import MlflowClient

    from burnout_base.settings import Settings

    name = Settings(_env_file=None).registered_model_name
    client = MlflowClient(tracking_uri=stack.url("MLFLOW_HOST_PORT", 5001))
    version = max(
        int(v.version) for v in client.search_model_versions(f"name='{name}'") if int(v.version) != champion
    )
    api = stack.url("API_HOST_PORT", 8800)
    token = {"Authorization": f"Bearer {stack.env['API_RELOAD_TOKEN']}"}
    answer = httpx.put(f"{api}/aliases/challenger", json={"version": version}, headers=token, timeout=60)
    if answer.status_code != 200:
        raise StepFailed(
            f"service api: PUT /aliases/challenger gave {answer.status_code}: {answer.text[:300]}"
        )

    def loaded_everywhere() -> bool:
        seen: dict[str, bool] = {}
        for _ in range(8):
            listed = httpx.get(f"{api}/models", timeout=30)
            models = {m["alias"]: m for m in listed.json()["models"]}
            challenger = models.get("challenger", {})
            seen[listed.headers.get(REPLICA_HEADER, "")] = (
                challenger.get("loaded") and challenger["version"] == version
            )
        return len(seen) >= 2 and all(seen.values())

    if not wait_until(loaded_everywhere, timeout=60, every=2):
        raise StepFailed(f"service api: the replicas did not all load challenger v{version} within 60s")
    return version


def predict(
    stack: Stack, records: list[dict], tag: str, alias: str | None = None
) -> list[tuple[str, int, str, int]]:
    """(request id, record index, class, version) of every record, BATCH records per request."""
    api = stack.url("API_HOST_PORT", 8800)
    answers = []
    for start in range(0, len(records), BATCH):
        request_id = f"{tag}-{start // BATCH}"
        answer = httpx.post(
            f"{api}/predict",
            params={"model": alias} if alias else None,
            json=records[start : start + BATCH],
            headers={"X-Request-ID": request_id},
            timeout=60,
        )
        if answer.status_code != 200 or answer.json()["request_id"] != request_id:
            raise StepFailed(f"service api: POST /predict gave {answer.status_code}: {answer.text[:300]}")
        for index, prediction in enumerate(answer.json()["predictions"]):
            answers.append((request_id, index, prediction["class"], prediction["model_version"]))
    return answers


def quality_run(stack: Stack, after: float):
    """The latest model_quality run in burnout-monitoring started after `after` (epoch seconds)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack.url("MLFLOW_HOST_PORT", 5001))
    experiment = client.get_experiment_by_name("burnout-monitoring")
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string="attributes.run_name = 'model_quality' "
        f"and attributes.start_time > {int(after * 1000)}",
        order_by=["attributes.start_time DESC"],
    )
    if not runs:
        raise StepFailed("service airflow-worker: model_quality logged no run to MLflow burnout-monitoring")
    return runs[0]


def check_live_evidence(stack: Stack) -> str:
    from sklearn.metrics import f1_score

    from etl.contract import CLASSES, IDENTIFIER, TARGET, burn_rate_to_class

    started = time.time()
    champion, _ = champion_in_mlflow(stack)
    challenger = set_challenger(stack, champion)
    people = employees(EMPLOYEES)
    records = [as_record(row) for _, row in people.iterrows()]
    tag = f"live-{int(started)}"
    window_start = datetime.now(UTC) - timedelta(minutes=1)
    served = predict(stack, records, tag)
    if {version for *_, version in served} != {champion}:
        raise StepFailed(f"service api: expected every answer from champion v{champion}, got {served[:3]}")
    # The challenger's answers on the same records, asked by name: the figure the shadow must reproduce.
    # Without their Employee ID, so that the outcomes posted by employee do not match these answers too.
    anonymous = [{k: v for k, v in record.items() if k != IDENTIFIER} for record in records]
    offline = predict(stack, anonymous, f"{tag}-offline", alias="challenger")
    observed = [burn_rate_to_class(rate) for rate in people[TARGET]]
    outcomes = []
    for i, (request_id, index, _, _) in enumerate(served):
        rate = float(people[TARGET][i])
        if i % 2:
            outcomes.append({"request_id": request_id, "record_index": index, TARGET: rate})
        else:
            when = window_start.isoformat()
            outcomes.append({IDENTIFIER: str(people[IDENTIFIER][i]), "from": when, TARGET: rate})
    api = stack.url("API_HOST_PORT", 8800)
    for batch in (outcomes, outcomes[:10]):  # the first ten twice: the join removes duplicates
        posted = httpx.post(f"{api}/feedback", json=batch, timeout=60)
        if posted.status_code != 200 or posted.json()["accepted"] != len(batch):
            raise StepFailed(f"service api: POST /feedback gave {posted.status_code}: {posted.text[:300]}")
    time.sleep(15)  # each replica writes its prediction log every BURNOUT_PREDICTION_LOG_FLUSH_S (10 s)
    run_id = Airflow(stack).run_dag("model_quality", {"days": 1}, timeout=600)
    metrics = quality_run(stack, started).data.metrics

    expected_champion = f1_score(
        observed, [c for _, _, c, _ in served], labels=list(CLASSES), average="macro"
    )
    expected_challenger = f1_score(
        observed, [c for _, _, c, _ in offline], labels=list(CLASSES), average="macro"
    )
    pair = f"pair_v{challenger}_vs_v{champion}"
    checks = {
        f"v{champion}_served/rows": EMPLOYEES,
        f"v{champion}_served/macro_f1": expected_champion,
        f"v{challenger}_shadow/rows": EMPLOYEES,
        f"v{challenger}_shadow/macro_f1": expected_challenger,
        f"{pair}/rows": EMPLOYEES,
        f"{pair}/difference": expected_challenger - expected_champion,
    }
    wrong = {
        key: (metrics.get(key), expected)
        for key, expected in checks.items()
        if metrics.get(key) is None or abs(metrics[key] - expected) > 1e-9
    }
    if wrong:
        raise StepFailed(f"model_quality run {run_id}: live figures differ from the offline ones: {wrong}")
    labelled = [o["Key"] for o in _raw_listing(stack, "labelled/")]
    if not labelled:
        raise StepFailed(f"model_quality run {run_id}: no labelled training file in the raw bucket")
    low, high = (metrics.get(f"{pair}/difference_ci_{end}", float("nan")) for end in ("low", "high"))
    return (
        f"run {run_id}: {EMPLOYEES} labelled; macro-F1 champion v{champion} {expected_champion:.3f}, "
        f"shadow v{challenger} {expected_challenger:.3f} (paired difference "
        f"{metrics[pair + '/difference']:+.3f} [{low:+.3f}, {high:+.3f}]); {len(labelled)} labelled file(s)"
    )


def _raw_listing(stack: Stack, prefix: str) -> list[dict]:
    from journey import lake_client

    from burnout_base.settings import Settings

    bucket = Settings(_env_file=None).raw_bucket
    return lake_client(stack).list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
