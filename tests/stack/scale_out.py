"""The stack test's scale-out checks (issue 22), run by journey.py against the stack it already started.

API replicas behind the balancer (both answer, both log, both survive a replica's restart under load, both
pick up an alias move), one family's tuning spread over both Airflow workers, and a batch_score run whose
partitions both workers score with exact counts. Each check returns its one-line report, naming the hosts and
counts it saw, or raises StepFailed naming the service.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from journey import Airflow, Stack, StepFailed, champion_in_mlflow, lake_client, wait_healthy, wait_until

REPLICA_HEADER = "x-burnout-replica"
REPLICA_TRAILER = "burnout-replica"
REAL_DATASET = Path(__file__).resolve().parents[3] / "shared" / "data" / "enriched_employee_dataset.csv"


def container_hosts(stack: Stack, service: str) -> dict[str, str]:
    """{hostname: container name} of a service's running containers (a hostname is the container's id)."""
    return {
        c["Config"]["Hostname"]: c["Name"].lstrip("/")
        for c in stack.containers()
        if service_of_container(c) == service and c["State"]["Running"]
    }


def grpc_predict(channel, record: dict) -> tuple[int, str]:
    """One BurnoutRisk Predict through `channel`: the model version and the replica named in the trailers."""
    from burnout_api.grpc_gen import burnout_pb2 as pb
    from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc

    answer, call = pb_grpc.BurnoutRiskStub(channel).Predict.with_call(
        pb.PredictRequest(records=[pb.Employee(**record)]), timeout=30
    )
    trailers = dict(call.trailing_metadata() or ())
    return answer.model.version, trailers.get(REPLICA_TRAILER, "")


def grpc_record() -> dict:
    from burnout_api.features import FEATURE_FIELDS
    from burnout_api.schemas import EXAMPLE_RECORD

    return {f.key: EXAMPLE_RECORD[f.name] for f in FEATURE_FIELDS if f.name in EXAMPLE_RECORD}


def answers_by_replica(stack: Stack, calls: int = 20) -> dict[str, Counter]:
    """`calls` REST and `calls` gRPC predictions through the balancer: {protocol: Counter of replicas}."""
    import grpc

    from burnout_api.schemas import EXAMPLE_RECORD

    seen = {"rest": Counter(), "grpc": Counter()}
    with httpx.Client(base_url=stack.url("API_HOST_PORT", 8800), timeout=30) as http:
        for _ in range(calls):
            answer = http.post("/predict", json=[EXAMPLE_RECORD])
            if answer.status_code != 200:
                raise StepFailed(f"service balancer: /predict gave {answer.status_code}: {answer.text[:200]}")
            seen["rest"][answer.headers.get(REPLICA_HEADER, "")] += 1
    with grpc.insecure_channel(f"127.0.0.1:{stack.env.get('GRPC_HOST_PORT') or 50051}") as channel:
        for _ in range(calls):
            seen["grpc"][grpc_predict(channel, grpc_record())[1]] += 1
    return seen


def balancer_connections(stack: Stack, backend: str = "api_grpc") -> dict[str, int]:
    """{server: connections HAProxy holds to it (in use + idle)} for the backend's servers that are up, from
    the balancer's stats page (internal port 8404, reached at the container's address)."""
    container = next(c for c in stack.containers() if service_of_container(c) == "balancer")
    address = next(iter(container["NetworkSettings"]["Networks"].values()))["IPAddress"]
    return connections_in_stats(httpx.get(f"http://{address}:8404/stats;csv", timeout=10).text, backend)


def connections_in_stats(text: str, backend: str) -> dict[str, int]:
    """{server: used + idle connections} of the up servers of `backend` in HAProxy's CSV stats."""
    import csv

    text = text.lstrip("# ")
    return {
        row["svname"]: int(row["used_conn_cur"] or 0) + int(row["idle_conn_cur"] or 0)
        for row in csv.DictReader(io.StringIO(text))
        if row["pxname"] == backend and row["status"] == "UP" and row["svname"] != "BACKEND"
    }


def service_of_container(container: dict) -> str:
    return container["Config"]["Labels"]["com.docker.compose.service"]


def check_replicas_answer(stack: Stack) -> str:
    """Both api replicas answer REST and gRPC behind the balancer, each naming itself; reports the h2
    connections the balancer then holds to each replica's gRPC port (the calls came on one client channel)."""
    hosts = container_hosts(stack, "api")
    if len(hosts) != 2:
        raise StepFailed(f"service api: expected 2 replicas, found {sorted(hosts.values())}")
    seen = answers_by_replica(stack)
    for protocol, replicas in seen.items():
        if set(replicas) != set(hosts):
            raise StepFailed(
                f"service balancer: {protocol} answers came from {dict(replicas)}, "
                f"replicas are {sorted(hosts)}"
            )
    answers = "; ".join(f"{protocol} {dict(replicas)}" for protocol, replicas in seen.items())
    return f"{answers}; h2 connections to the replicas' gRPC ports: {balancer_connections(stack)}"


def replicas_in_prediction_log(stack: Stack) -> Counter:
    """Rows of the prediction log per replica."""
    import pyarrow.parquet as pq

    from burnout_base.settings import Settings

    s3, bucket = lake_client(stack), Settings(_env_file=None).predictions_bucket
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    rows = Counter()
    for key in keys:
        table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        if "replica" in table.column_names:
            rows.update(table.column("replica").to_pylist())
    return rows


def check_log_names_replicas(stack: Stack) -> str:
    """After the restart flushed both replicas' logs, the prediction log names both."""
    hosts = container_hosts(stack, "api")
    rows = replicas_in_prediction_log(stack)
    if not set(hosts) <= set(rows):
        raise StepFailed(
            f"service api: the prediction log names replicas {dict(rows)}, expected {sorted(hosts)}"
        )
    return f"rows per replica {dict(rows)}"


class SteadyLoad:
    """A bounded, steady load through the balancer: REST and gRPC predictions at fixed rates, each call
    checked; counts answers per replica and every failure with its reason."""

    def __init__(self, stack: Stack, rest_per_s: float = 20, grpc_per_s: float = 10):
        self.stack, self.rates = stack, {"rest": rest_per_s, "grpc": grpc_per_s}
        self.stop = threading.Event()
        self.answers = {"rest": Counter(), "grpc": Counter()}
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(p,), daemon=True) for p in self.rates]

    def __enter__(self) -> SteadyLoad:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _run(self, protocol: str) -> None:
        import grpc

        from burnout_api.schemas import EXAMPLE_RECORD

        every = 1 / self.rates[protocol]
        http = httpx.Client(base_url=self.stack.url("API_HOST_PORT", 8800), timeout=30)
        channel = grpc.insecure_channel(f"127.0.0.1:{self.stack.env.get('GRPC_HOST_PORT') or 50051}")
        next_call = time.monotonic()
        try:
            while not self.stop.is_set():
                try:
                    if protocol == "rest":
                        answer = http.post("/predict", json=[EXAMPLE_RECORD])
                        if answer.status_code != 200:
                            raise RuntimeError(f"HTTP {answer.status_code}: {answer.text[:100]}")
                        replica = answer.headers.get(REPLICA_HEADER, "")
                    else:
                        replica = grpc_predict(channel, grpc_record())[1]
                    self.answers[protocol][replica] += 1
                except Exception as exc:  # noqa: BLE001 (every failed call is counted with its reason)
                    self.failures.append(f"{protocol}: {type(exc).__name__}: {str(exc)[:150]}")
                next_call += every
                time.sleep(max(0.0, next_call - time.monotonic()))
        finally:
            http.close()
            channel.close()


def check_restart_under_load(stack: Stack, settle_s: float = 10) -> str:
    """While a steady load runs, one replica is stopped (it drains) and started again: no call fails."""
    hosts = container_hosts(stack, "api")
    host, container = sorted(hosts.items())[0]
    started = time.monotonic()
    with SteadyLoad(stack) as load:
        time.sleep(settle_s)
        subprocess_run(["docker", "stop", "--time", "25", container])
        stopped_after = time.monotonic() - started
        time.sleep(3)
        subprocess_run(["docker", "start", container])
        wait_healthy(stack, timeout=180, services={"api"})
        # Back in rotation once its model is loaded and the balancer's checks pass: wait for its answers.
        seen_before = load.answers["rest"][host]
        wait_until(lambda: load.answers["rest"][host] > seen_before + 5, timeout=120, every=1)
        time.sleep(settle_s)
    seconds = time.monotonic() - started
    total = {protocol: sum(replicas.values()) for protocol, replicas in load.answers.items()}
    if load.failures:
        raise StepFailed(
            f"service balancer: {len(load.failures)} failed call(s) of {sum(total.values())} while replica "
            f"{host} restarted; first: {load.failures[:3]}"
        )
    if load.answers["rest"][host] <= seen_before:
        raise StepFailed(f"service api: replica {host} got no calls after its restart ({load.answers})")
    return (
        f"h2 connections to the replicas' gRPC ports {balancer_connections(stack)}; "
        f"{seconds:.0f}s of load, replica {host} stopped at {stopped_after:.0f}s and restarted: "
        f"0 failures of {total['rest']} REST and {total['grpc']} gRPC calls; per replica "
        + "; ".join(f"{p} {dict(r)}" for p, r in load.answers.items())
    )


def subprocess_run(command: list[str]) -> None:
    import subprocess

    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise StepFailed(f"{' '.join(command)} failed: {result.stderr.strip()[:300]}")


def versions_by_replica(stack: Stack, calls: int = 12) -> dict[str, set[int]]:
    """The model versions each replica answered with over `calls` REST predictions through the balancer."""
    from burnout_api.schemas import EXAMPLE_RECORD

    seen: dict[str, set[int]] = {}
    with httpx.Client(base_url=stack.url("API_HOST_PORT", 8800), timeout=30) as http:
        for _ in range(calls):
            answer = http.post("/predict", json=[EXAMPLE_RECORD])
            seen.setdefault(answer.headers.get(REPLICA_HEADER, ""), set()).add(
                answer.json()["model"]["version"]
            )
    return seen


def move_champion(stack: Stack, version: int) -> dict:
    """Point the champion alias at `version` in MLflow, then ask the replicas to reload as the pipeline does
    (pipeline.reload_api from an Airflow worker, inside the compose network); returns notify's summary."""
    from mlflow import MlflowClient

    from burnout_base.settings import Settings
    from modeling.registry_names import CHAMPION

    client = MlflowClient(tracking_uri=stack.url("MLFLOW_HOST_PORT", 5001))
    client.set_registered_model_alias(Settings(_env_file=None).registered_model_name, CHAMPION, str(version))
    script = (
        "import json; from pipeline.reload_api import notify_reload; "
        "from burnout_base.settings import get_settings; print(json.dumps(notify_reload(get_settings())))"
    )
    result = stack.compose("exec", "-T", "airflow-worker", "python", "-c", script, timeout=120)
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_alias_move_reaches_replicas(stack: Stack) -> str:
    """Moving the champion alias (and the pipeline's reload call) is picked up by both replicas; the alias
    then moves back."""
    from mlflow import MlflowClient

    from burnout_base.settings import Settings

    champion, _ = champion_in_mlflow(stack)
    client = MlflowClient(tracking_uri=stack.url("MLFLOW_HOST_PORT", 5001))
    name = Settings(_env_file=None).registered_model_name
    others = [
        int(v.version) for v in client.search_model_versions(f"name='{name}'") if int(v.version) != champion
    ]
    if not others:
        raise StepFailed(f"service mlflow: {name} has no version besides the champion v{champion}")
    hosts = set(container_hosts(stack, "api"))
    reports = []
    for target in (max(others), champion):
        started = time.monotonic()
        notified = move_champion(stack, target)

        def on_target(target: int = target) -> dict | None:
            seen = versions_by_replica(stack)
            return seen if set(seen) == hosts and all(v == {target} for v in seen.values()) else None

        if not wait_until(on_target, timeout=60, every=1):
            raise StepFailed(
                f"service api: after moving champion to v{target} the replicas answer "
                f"{versions_by_replica(stack)}"
                f"; reload said {notified}"
            )
        reached = [r.get("address") or r.get("url") for r in notified.get("replicas", [notified])]
        reports.append(f"v{target} on both in {time.monotonic() - started:.1f}s (reload reached {reached})")
    return "; ".join(reports)


def study_trials_by_host(stack: Stack, study: str) -> tuple[Counter, int]:
    """Finished trials of the Optuna study per host (user attribute `host`) and in all, read in Postgres."""
    sql = (
        "select coalesce(ua.value_json, 'null'), count(*) from trials t join studies s using (study_id) "
        "left join trial_user_attributes ua on ua.trial_id = t.trial_id and ua.key = 'host' "
        f"where s.study_name = '{study}' and t.state in ('COMPLETE', 'PRUNED') group by 1"
    )
    result = stack.compose(
        "exec", "-T", "postgres", "psql", "-U", "postgres", "-d", "optuna", "-At", "-F", "\t", "-c", sql
    )
    trials = Counter()
    for line in result.stdout.splitlines():
        host, count = line.rsplit("\t", 1)
        trials[json.loads(host) if host != "null" else None] += int(count)
    return trials, sum(trials.values())


def task_hosts(airflow: Airflow, dag_id: str, run_id: str, task_id: str) -> list[str]:
    """The host each (mapped) instance of a task ran on, as Airflow recorded it."""
    tasks = airflow.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 200})
    return [t["hostname"] for t in tasks["task_instances"] if t["task_id"] == task_id]


def check_tuning_spreads_over_workers(
    stack: Stack, family: str, dag_task: str, trials: int, workers: int = 2
) -> str:
    """train_<family> with `workers` tuning tasks on a fresh study budget: they run on both worker hosts,
    each contributes trials, and the study ends with budget ≤ finished ≤ budget + K - 1."""
    from modeling.tune import study_name

    hosts = set(container_hosts(stack, "airflow-worker"))
    if len(hosts) != 2:
        raise StepFailed(f"service airflow-worker: expected 2 workers, found {sorted(hosts)}")
    airflow = Airflow(stack)
    dataset = latest_dataset_version(stack)
    study = study_name(family, dataset)
    _, before = study_trials_by_host(stack, study)
    budget = before + trials
    conf = {"trials": budget, "timeout_s": 900, "tuning_workers": workers}
    run_id = airflow.run_dag(f"train_{family}", conf, timeout=900)
    ran_on = task_hosts(airflow, f"train_{family}", run_id, dag_task)
    by_host, finished = study_trials_by_host(stack, study)
    if sorted(ran_on) != sorted(hosts):
        raise StepFailed(
            f"service airflow-worker: the {workers} {dag_task} tasks ran on {ran_on}, "
            f"workers are {sorted(hosts)}"
        )
    if not all(by_host.get(host, 0) > 0 for host in hosts):
        raise StepFailed(
            f"service airflow-worker: trials per host {dict(by_host)}; each worker must add some"
        )
    if not budget <= finished <= budget + workers - 1:
        raise StepFailed(f"study {study}: {finished} finished trials, budget {budget} (K={workers})")
    return (
        f"run {run_id}: {dag_task} on {sorted(ran_on)}; study {study}: {finished} finished trials "
        f"(budget {budget}, {before} before), per host {dict(by_host)}"
    )


def latest_dataset_version(stack: Stack) -> str:
    """The dataset version the pipeline published (the newest manifest in the processed bucket)."""
    from burnout_base.settings import Settings

    s3, bucket = lake_client(stack), Settings(_env_file=None).processed_bucket
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    manifests = sorted((o["LastModified"], o["Key"]) for o in listed if o["Key"].endswith("manifest.json"))
    if not manifests:
        raise StepFailed(f"service minio: no dataset manifest in bucket {bucket}")
    return manifests[-1][1].split("/")[0]


def repeated_real_rows(copies: int) -> tuple[bytes, int]:
    """The real dataset (or, without it, the synthetic one) repeated `copies` times under one header, with one
    corrupt row in the middle; returns the bytes and the number of data rows."""
    if REAL_DATASET.is_file():
        text = REAL_DATASET.read_text()
    else:
        from etl.synthetic import generate_synthetic

        text = generate_synthetic(rows=5000, seed=7).to_csv(index=False)
    header, _, body = text.partition("\n")
    body = body if body.endswith("\n") else body + "\n"
    rows = body.count("\n")
    corrupt = "this,is,not,a,record\n"
    data = header + "\n" + body * (copies // 2) + corrupt + body * (copies - copies // 2)
    return data.encode(), rows * copies + 1


def read_parquet_parts(stack: Stack, bucket: str, prefix: str):
    """Every Parquet part under s3://bucket/prefix/ as one table (None when there is none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    s3 = lake_client(stack)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", [])]
    tables = [pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read())) for k in keys]
    return (pa.concat_tables(tables) if tables else None), len(keys)


def check_batch_score_partitions(stack: Stack, copies: int = 3, partition_bytes: int = 1 << 20) -> str:
    """batch_score over the real rows repeated (one corrupt row among them), in partitions of ~1 MiB: both
    workers score partitions, every line is scored or quarantined exactly once, under the file's own line
    numbers (the header is line 1), and only the corrupt line is quarantined."""
    from burnout_base.settings import Settings

    names = Settings(_env_file=None)
    data, rows = repeated_real_rows(copies)
    key = "scale-out/repeated.csv"
    lake_client(stack).put_object(Bucket=names.raw_bucket, Key=key, Body=data)
    corrupt_line = data[: data.index(b"this,is,not,a,record")].count(b"\n") + 1
    airflow = Airflow(stack)
    conf = {"input": f"s3://{names.raw_bucket}/{key}", "partition_bytes": partition_bytes}
    run_id = airflow.run_dag("batch_score", conf, timeout=900)
    ran_on = task_hosts(airflow, "batch_score", run_id, "score")
    workers = set(container_hosts(stack, "airflow-worker"))
    if set(ran_on) != workers:
        raise StepFailed(
            f"service airflow-worker: the {len(ran_on)} score tasks ran on {Counter(ran_on)}, "
            f"workers are {sorted(workers)}"
        )
    output = f"{key.removesuffix('.csv')}.predictions.parquet"
    scored, parts = read_parquet_parts(stack, names.raw_bucket, output)
    quarantined, _ = read_parquet_parts(
        stack, names.raw_bucket, f"{key.removesuffix('.csv')}.predictions.quarantine.parquet"
    )
    scored_lines = scored.column("line").to_pylist() if scored is not None else []
    quarantined_lines = quarantined.column("line").to_pylist() if quarantined is not None else []
    lines = sorted(scored_lines + quarantined_lines)
    if lines != list(range(2, rows + 2)) or quarantined_lines != [corrupt_line]:
        raise StepFailed(
            f"batch_score run {run_id}: {len(scored_lines)} scored + {len(quarantined_lines)} quarantined "
            f"lines (quarantined {quarantined_lines[:5]}, corrupt line {corrupt_line}) for {rows} rows"
        )
    return (
        f"run {run_id}: {len(data) / 1e6:.1f} MB, {rows} rows in {parts} partitions scored on "
        f"{dict(Counter(ran_on))}; {len(scored_lines)} scored + {len(quarantined_lines)} quarantined "
        f"(line {corrupt_line}) = rows in, lines 2..{rows + 1} each once"
    )
