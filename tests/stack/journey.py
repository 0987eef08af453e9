"""The user's journey through the real stack (`make test-stack`), on a running Docker engine.

Builds the project's images from the real Dockerfiles, starts docker-compose.yaml (plus the CI override that
names the stand-ins), waits until every service is healthy, then does what a user does: triggers
`burnout_pipeline` through Airflow's REST API as the UI would, and checks what it produced in the lake, in
MLflow and in the API on every protocol, through the published ports. Then it restarts the API, proves the
scale-out (scale_out.py: two API replicas behind the balancer, tuning and batch scoring over two Airflow
workers), the live-evidence loop (live_evidence.py: shadow, feedback, model_quality), and checks that a broken
service is reported by name. Prints one line per step (time, pass
or fail) and exits non-zero on the first failure, with the failing service's last log lines.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from dotenv import dotenv_values

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PROJECT = "burnout-stacktest"
LOG_LINES = 40


class StepFailed(Exception):
    """A check failed; the message names the service and says what was expected."""


@dataclass
class Stack:
    """docker-compose with the stack's files, and the values of .env the checks need."""

    files: list[Path]
    env: dict[str, str] = field(default_factory=lambda: dotenv_values(REPO / ".env"))

    def compose(self, *args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess:
        command = ["docker-compose", "--project-name", PROJECT, "--project-directory", str(REPO)]
        for file in self.files:
            command += ["--file", str(file)]
        result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise StepFailed(
                f"docker-compose {' '.join(args)} failed:\n{tail(result.stderr + result.stdout)}"
            )
        return result

    def url(self, port_variable: str, default: int) -> str:
        """The published port's URL on this host (ports come from .env, as for users)."""
        return f"http://127.0.0.1:{self.env.get(port_variable) or default}"

    def containers(self) -> list[dict]:
        """`docker inspect` of the project's containers, stopped ones included."""
        ids = self.compose("ps", "--all", "-q").stdout.split()
        if not ids:
            return []
        return json.loads(subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True).stdout)

    def logs(self, service: str) -> str:
        return tail(self.compose("logs", "--no-color", "--tail", str(LOG_LINES), service, check=False).stdout)


def tail(text: str, lines: int = LOG_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def service_of(container: dict) -> str:
    return container["Config"]["Labels"]["com.docker.compose.service"]


def container_state(container: dict) -> str:
    """healthy, starting, unhealthy, running (no healthcheck), exited(<code>) or the raw status."""
    state = container["State"]
    if state["Status"] == "exited":
        return f"exited({state['ExitCode']})"
    health = state.get("Health")
    return health["Status"] if health else state["Status"]


def wait_until(condition: Callable[[], object], timeout: float, every: float = 2.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


# One-shot services: done when they exited 0.
ONE_SHOTS = {"minio-init", "airflow-init"}


def expected_state(service: str) -> str:
    return "exited(0)" if service in ONE_SHOTS else "healthy"


def wait_healthy(stack: Stack, timeout: float, services: set[str] | None = None) -> dict[str, str]:
    """Wait until every (given) service is healthy, or exited 0 for the one-shots; fail naming the first one
    that is unhealthy, exited, or still not ready at the deadline, with its last log lines."""
    deadline = time.monotonic() + timeout
    while True:
        states: dict[str, list[str]] = {}
        for container in stack.containers():
            if services is None or service_of(container) in services:
                states.setdefault(service_of(container), []).append(container_state(container))
        waiting = sorted((services or set()) - set(states))
        for service, seen in sorted(states.items()):
            for state in seen:
                if state == "unhealthy" or (state.startswith("exited") and state != expected_state(service)):
                    raise StepFailed(
                        f"service {service} is {state}; its last log lines:\n{stack.logs(service)}"
                    )
            if any(state != expected_state(service) for state in seen):
                waiting.append(service)
        if states and not waiting:
            return {service: ",".join(seen) for service, seen in sorted(states.items())}
        if time.monotonic() > deadline:
            service = waiting[0]
            seen = ",".join(states.get(service, ["no container"]))
            raise StepFailed(
                f"service {service} not healthy after {timeout:.0f}s ({seen}); its last log lines:\n"
                f"{stack.logs(service)}"
            )
        time.sleep(3)


class Airflow:
    """Airflow's REST API as the UI uses it: a token from /auth/token, then /api/v2 with it."""

    def __init__(self, stack: Stack):
        self.base = stack.url("AIRFLOW_HOST_PORT", 8080)
        login = {"username": stack.env["AIRFLOW_ADMIN_USER"], "password": stack.env["AIRFLOW_ADMIN_PASSWORD"]}
        answer = httpx.post(f"{self.base}/auth/token", json=login, timeout=30)
        if answer.status_code >= 300:
            raise StepFailed(
                f"service airflow-apiserver refused the login: {answer.status_code} {answer.text}"
            )
        self.http = httpx.Client(
            base_url=f"{self.base}/api/v2",
            headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
            timeout=30,
        )

    def call(self, method: str, path: str, **kwargs) -> dict:
        answer = self.http.request(method, path, **kwargs)
        if answer.status_code >= 300:
            raise StepFailed(
                f"service airflow-apiserver: {method} {path} gave {answer.status_code}: {answer.text}"
            )
        return answer.json()

    def dag(self, dag_id: str) -> dict | None:
        answer = self.http.get(f"/dags/{dag_id}")
        return answer.json() if answer.status_code == 200 else None

    def run_dag(self, dag_id: str, conf: dict, timeout: float) -> str:
        """Unpause `dag_id`, trigger it with `conf` and wait for its run to succeed; returns the run id."""
        if not wait_until(lambda: self.dag(dag_id), timeout=180):
            raise StepFailed(f"service airflow-dag-processor: {dag_id} not listed after 180s")
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        run_id = self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})[
            "dag_run_id"
        ]

        def finished() -> str | None:
            state = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            return state if state in {"success", "failed"} else None

        state = wait_until(finished, timeout=timeout, every=5) or f"unfinished after {timeout:.0f}s"
        if state != "success":
            failed = self.failed_tasks(dag_id, run_id)
            raise StepFailed(
                f"{dag_id} run {run_id}: {state} (services airflow-scheduler, airflow-worker):\n{failed}"
            )
        return run_id

    def failed_tasks(self, dag_id: str, run_id: str) -> str:
        tasks = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        lines = []
        for task in tasks:
            if task["state"] in {"failed", "upstream_failed"}:
                name = task["task_id"] + (f"[{task['map_index']}]" if task.get("map_index", -1) >= 0 else "")
                lines.append(f"  {name}: {task['state']}")
                if task["state"] == "failed":
                    log = self.http.get(
                        f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task['task_id']}/logs/{task['try_number']}",
                        params={"map_index": task.get("map_index", -1), "full_content": True},
                        headers={"Accept": "text/plain"},
                    )
                    lines.append(tail(log.text, 15))
        return "\n".join(lines)


def check_stack_images_build(stack: Stack) -> str:
    stack.compose("build", timeout=3600)
    return "images built from dockerfiles/"


def check_stack_starts(stack: Stack) -> str:
    # Compose itself waits for the healthy/completed conditions of depends_on and stops at the first failure;
    # either way the wait below names the service.
    up = stack.compose("up", "--detach", "--no-build", check=False, timeout=1800)
    try:
        states = wait_healthy(stack, timeout=600 if up.returncode == 0 else 10)
    except StepFailed as exc:
        raise StepFailed(f"{exc}\ndocker-compose up said:\n{tail(up.stderr, 10)}") from None
    if up.returncode != 0:
        raise StepFailed(f"docker-compose up failed, every service healthy:\n{tail(up.stderr)}")
    return f"{len(states)} services: " + " ".join(f"{s}={v}" for s, v in states.items())


def check_exposure(stack: Stack) -> str:
    """Published ports listen on 127.0.0.1 only (HOST_BIND_ADDRESS), and Valkey does not run as root."""
    bound = []
    for container in stack.containers():
        for port, bindings in (container["NetworkSettings"]["Ports"] or {}).items():
            for binding in bindings or []:
                if binding["HostIp"] != "127.0.0.1":
                    raise StepFailed(
                        f"service {service_of(container)} publishes {port} on {binding['HostIp']}"
                    )
                bound.append(binding["HostPort"])
    uid = stack.compose("exec", "-T", "valkey", "awk", "/^Uid:/ {print $2}", "/proc/1/status").stdout.strip()
    if uid in {"", "0"}:
        raise StepFailed(f"service valkey runs its server as uid {uid or '?'} (root)")
    return f"ports {','.join(sorted(set(bound)))} on 127.0.0.1; valkey-server uid {uid}"


def check_api_refuses_start_without_token(stack: Stack) -> str:
    result = stack.compose(
        "run", "--rm", "--no-deps", "-e", "BURNOUT_RELOAD_TOKEN=", "api", check=False, timeout=120
    )
    output = result.stdout + result.stderr
    if result.returncode == 0 or "BURNOUT_RELOAD_TOKEN is empty" not in output:
        raise StepFailed(
            f"service api started without a reload token (exit {result.returncode}):\n{tail(output)}"
        )
    said = next(line for line in output.splitlines() if "BURNOUT_RELOAD_TOKEN is empty" in line)
    return f"exit {result.returncode}: {said.strip()[:100]}"


def check_pipeline_runs(stack: Stack, trials: int, timeout_s: float, run_timeout: float) -> str:
    airflow = Airflow(stack)
    # The DAG processor parses the mounted dags/ folder after start-up.
    if not wait_until(lambda: airflow.dag("burnout_pipeline"), timeout=180):
        raise StepFailed("service airflow-dag-processor: burnout_pipeline not listed after 180s")
    from modeling.families import FAMILIES

    for family in FAMILIES:
        dag = wait_until(lambda f=family: airflow.dag(f"train_{f}"), timeout=60)
        if not dag or dag["is_paused"]:
            raise StepFailed(
                f"service airflow-dag-processor: train_{family} is {'paused' if dag else 'missing'}"
            )
    # One tuning task per family here (fewer task launches on two slots); the scale-out step runs K=2.
    conf = {"trials": trials, "timeout_s": timeout_s, "tuning_workers": 1}
    run_id = airflow.run_dag("burnout_pipeline", conf, run_timeout)
    return f"run {run_id} succeeded (trials={trials}, timeout_s={timeout_s})"


def lake_client(stack: Stack):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=stack.url("MINIO_API_HOST_PORT", 9000),
        aws_access_key_id=stack.env["MINIO_ROOT_USER"],
        aws_secret_access_key=stack.env["MINIO_ROOT_PASSWORD"],
        region_name="us-east-1",
    )


def check_lake(stack: Stack) -> str:
    from burnout_base.settings import Settings

    s3 = lake_client(stack)
    # The stack runs with the settings' default bucket and object names.
    names = Settings(_env_file=None)
    raw = [o["Key"] for o in s3.list_objects_v2(Bucket=names.raw_bucket).get("Contents", [])]
    processed = [o["Key"] for o in s3.list_objects_v2(Bucket=names.processed_bucket).get("Contents", [])]
    if names.raw_key not in raw:
        raise StepFailed(f"service minio: raw bucket lacks the dataset (has {raw})")
    manifests = [key for key in processed if key.endswith("manifest.json")]
    if not manifests:
        raise StepFailed(f"service minio: processed bucket has no dataset manifest (has {processed[:10]})")
    return (
        f"raw: {len(raw)} objects; processed: {len(processed)} objects, {len(manifests)} dataset version(s)"
    )


def champion_in_mlflow(stack: Stack) -> tuple[int, str]:
    from mlflow import MlflowClient

    from burnout_base.settings import Settings
    from modeling.registry_names import CHAMPION

    client = MlflowClient(tracking_uri=stack.url("MLFLOW_HOST_PORT", 5001))
    try:
        version = client.get_model_version_by_alias(Settings(_env_file=None).registered_model_name, CHAMPION)
        experiments = client.search_experiments()
    except Exception as exc:  # noqa: BLE001 (any client error is a failed check of that service)
        raise StepFailed(f"service mlflow: {type(exc).__name__}: {exc}") from None
    runs = {
        e.name: len(client.search_runs([e.experiment_id]))
        for e in experiments
        if e.name.startswith("burnout")
    }
    if not runs.get("burnout-etl") or not runs.get("burnout-training"):
        raise StepFailed(f"service mlflow: expected runs in burnout-etl and burnout-training, found {runs}")
    return int(version.version), f"runs {runs}"


def check_mlflow(stack: Stack) -> str:
    version, runs = champion_in_mlflow(stack)
    return f"burnout-risk@champion = v{version}; {runs}"


def served_versions(stack: Stack, ready_timeout: float) -> dict[str, int]:
    """Predict one raw record over REST, GraphQL, gRPC and the Open Inference Protocol; return the model
    version each answered with."""
    import grpc

    from burnout_api.features import FEATURE_FIELDS
    from burnout_api.grpc_gen import burnout_pb2 as pb
    from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc
    from burnout_api.schemas import EXAMPLE_RECORD

    base = stack.url("API_HOST_PORT", 8800)

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/ready", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    if not wait_until(ready, timeout=ready_timeout):
        try:
            reason = httpx.get(f"{base}/ready", timeout=5).text[:300]
        except httpx.HTTPError as exc:
            reason = str(exc)
        raise StepFailed(
            f"service api not ready after {ready_timeout:.0f}s: {reason}; its log:\n{stack.logs('api')}"
        )
    versions = {}
    rest = httpx.post(f"{base}/predict", json=[EXAMPLE_RECORD], timeout=30)
    if rest.status_code != 200:
        raise StepFailed(f"service api: REST /predict gave {rest.status_code}: {rest.text[:300]}")
    versions["rest"] = rest.json()["model"]["version"]
    query = (
        "query($r: [EmployeeInput!]!) { predict(records: $r) { model { version } predictions { class } } }"
    )
    record = {f.key: EXAMPLE_RECORD[f.name] for f in FEATURE_FIELDS if f.name in EXAMPLE_RECORD}
    graphql = httpx.post(
        f"{base}/graphql", json={"query": query, "variables": {"r": [record]}}, timeout=30
    ).json()
    if "errors" in graphql:
        raise StepFailed(f"service api: GraphQL errors {graphql['errors']}")
    versions["graphql"] = graphql["data"]["predict"]["model"]["version"]
    port = stack.env.get("GRPC_HOST_PORT") or 50051
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            answer = pb_grpc.BurnoutRiskStub(channel).Predict(
                pb.PredictRequest(records=[pb.Employee(**record)]), timeout=30
            )
        except grpc.RpcError as exc:
            raise StepFailed(f"service api: gRPC Predict failed: {exc.code()} {exc.details()}") from None
    versions["grpc"] = answer.model.version
    versions.update(served_versions_v2(stack, EXAMPLE_RECORD))
    return versions


def served_versions_v2(stack: Stack, record: dict) -> dict[str, int]:
    """The same record over the Open Inference Protocol, REST as JSON and gRPC through tritonclient (a real
    V2 client), from the host; the model version each answered with."""
    import numpy as np
    import tritonclient.grpc as triton_grpc

    from burnout_api.v2.tensors import INPUTS

    base = stack.url("API_HOST_PORT", 8800)
    name = httpx.get(f"{base}/models", timeout=30).json()["registered_model"]
    body = {
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": s.name, "datatype": s.datatype, "shape": [1], "data": [record[s.name]]} for s in INPUTS
        ],
    }
    rest = httpx.post(f"{base}/v2/models/{name}/infer", json=body, timeout=30)
    if rest.status_code != 200:
        raise StepFailed(f"service api: V2 REST infer gave {rest.status_code}: {rest.text[:300]}")
    inputs = []
    for spec in INPUTS:
        tensor = triton_grpc.InferInput(spec.name, [1], spec.datatype)
        tensor.set_data_from_numpy(
            np.array([record[spec.name]], dtype=object if spec.datatype == "BYTES" else None)
        )
        inputs.append(tensor)
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{stack.env.get('GRPC_HOST_PORT') or 50051}")
    try:
        answer = client.infer(name, inputs, client_timeout=30)
    except Exception as exc:
        raise StepFailed(f"service api: V2 gRPC ModelInfer failed: {exc}") from None
    finally:
        client.close()
    return {"v2 rest": int(rest.json()["model_version"]), "v2 grpc": int(answer.get_response().model_version)}


def check_api_serves_champion(stack: Stack, ready_timeout: float = 180) -> str:
    champion, _ = champion_in_mlflow(stack)
    versions = served_versions(stack, ready_timeout)
    wrong = {protocol: v for protocol, v in versions.items() if v != champion}
    if wrong:
        raise StepFailed(f"service api answered with version(s) {wrong}, champion is v{champion}")
    return f"REST, GraphQL, gRPC and V2 (REST, gRPC) answered with champion v{champion}"


def check_champion_explains(stack: Stack) -> str:
    """?explain=true adds up to the answer, and /models links to the champion's model card and importance
    chart in MLflow, as a browser on the host opens them."""
    from burnout_api.schemas import EXAMPLE_RECORD

    base = stack.url("API_HOST_PORT", 8800)
    answer = httpx.post(f"{base}/predict?explain=true", json=[EXAMPLE_RECORD], timeout=60)
    if answer.status_code != 200:
        raise StepFailed(f"service api: /predict?explain=true gave {answer.status_code}: {answer.text[:300]}")
    body = answer.json()
    explanation = body["predictions"][0]["explanation"]
    gaps = [
        abs(explanation["base"][c] + sum(explanation["contributions"][c].values()) - explanation["output"][c])
        for c in explanation["output"]
    ]
    if max(gaps) > 1e-6 or not explanation["top_factors"]:
        raise StepFailed(f"service api: the explanation does not add up (gaps {gaps}): {explanation}")
    models = httpx.get(f"{base}/models", timeout=30).json()["models"]
    champion = next(m for m in models if m["alias"] == "champion")
    links = champion.get("links") or {}
    if not links.get("model_card") or not links.get("importance_chart"):
        raise StepFailed(f"service api: /models gives the champion no model card or chart links: {champion}")
    card = httpx.get(links["model_card"], timeout=30)
    chart = httpx.get(links["importance_chart"], timeout=30)
    if card.status_code != 200 or "## Intended use and limits" not in card.text:
        raise StepFailed(f"service mlflow: the model card link gave {card.status_code}: {card.text[:300]}")
    if chart.status_code != 200 or not chart.content.startswith(b"\x89PNG"):
        raise StepFailed(f"service mlflow: the importance chart link gave {chart.status_code}")
    factor = explanation["top_factors"][0]["text"]
    return f"{body['explainer']['method']} adds up (gap {max(gaps):.1e}); {factor}; card and chart open"


def check_api_restart(stack: Stack, settle_s: float = 20) -> str:
    stack.compose("restart", "api")
    wait_healthy(stack, timeout=180, services={"api"})
    # Healthy to Docker is not yet UP in the balancer: each of its backends (HTTP, gRPC) re-resolves the
    # replicas and needs two passing checks a second apart, so a call in that window gets 503. Every protocol
    # must still answer once the balancer has caught up.
    deadline = time.monotonic() + settle_s
    while True:
        try:
            return check_api_serves_champion(stack)
        except StepFailed:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def check_prediction_log(stack: Stack) -> str:
    """The api's restart flushed what it had answered: the log holds rows of every protocol."""
    import io

    import pyarrow.parquet as pq

    from burnout_base.settings import Settings

    s3, bucket = lake_client(stack), Settings(_env_file=None).predictions_bucket
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    tables = [pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read())) for k in keys]
    protocols = sorted({p for table in tables for p in table.column("protocol").to_pylist()})
    rows = sum(table.num_rows for table in tables)
    if not {"rest", "graphql", "grpc", "v2-rest", "v2-grpc"} <= set(protocols):
        raise StepFailed(
            f"service api: the prediction log holds {rows} rows of {protocols} ({len(keys)} files)"
        )
    return f"{rows} rows in {len(keys)} file(s) of bucket {bucket}, protocols {protocols}"


def check_stream(stack: Stack) -> str:
    """A record queued on POST /predict_stream is answered by stream-worker on the results stream."""
    import json

    from burnout_api.schemas import EXAMPLE_RECORD
    from burnout_base.settings import Settings

    names = Settings(_env_file=None)
    queued = httpx.post(
        f"{stack.url('API_HOST_PORT', 8800)}/predict_stream", json=[EXAMPLE_RECORD], timeout=30
    )
    if queued.status_code != 202:
        raise StepFailed(f"service api: POST /predict_stream gave {queued.status_code}: {queued.text[:300]}")
    entry = queued.json()["ids"][0]

    def answer() -> str | None:
        result = stack.compose(
            "exec",
            "-T",
            "valkey",
            "sh",
            "-c",
            f'valkey-cli -a "$VALKEY_PASSWORD" --no-auth-warning -n 1 XRANGE {names.stream_results} - +',
            check=False,
            timeout=30,
        )
        return result.stdout if entry in result.stdout else None

    found = wait_until(answer, timeout=120, every=2)
    if not found:
        raise StepFailed(
            f"service stream-worker: no result for entry {entry} after 120s:\n{stack.logs('stream-worker')}"
        )
    lines = found.splitlines()
    classes = [lines[i + 1] for i, line in enumerate(lines[:-1]) if line == "class"]
    return f"entry {entry} answered on {names.stream_results} ({json.dumps(classes[-1:])})"


def check_batch_score(stack: Stack) -> str:
    """batch_score scores the raw object in the lake and writes its predictions beside it."""
    from burnout_base.settings import Settings
    from etl.lake import parse_s3_uri
    from monitoring.score_output import default_output_uri

    names = Settings(_env_file=None)
    run_id = Airflow(stack).run_dag("batch_score", {}, timeout=600)
    _, key = parse_s3_uri(default_output_uri(f"s3://{names.raw_bucket}/{names.raw_key}"))
    listed = lake_client(stack).list_objects_v2(Bucket=names.raw_bucket, Prefix=key).get("Contents", [])
    if not listed:
        raise StepFailed(f"batch_score run {run_id} succeeded but s3://{names.raw_bucket}/{key} is missing")
    return f"run {run_id}: s3://{names.raw_bucket}/{key} ({listed[0]['Size']} bytes)"


def check_drift_monitor(stack: Stack) -> str:
    """drift_monitor runs on the stack's log: its check succeeds (or, under BURNOUT_DRIFT_MIN_ROWS logged
    rows, is skipped and says so); the steps' repeated records may well read as drift."""
    airflow = Airflow(stack)
    run_id = airflow.run_dag("drift_monitor", {}, timeout=600)
    tasks = airflow.call("GET", f"/dags/drift_monitor/dagRuns/{run_id}/taskInstances")["task_instances"]
    return f"run {run_id}: " + ", ".join(f"{t['task_id']} {t['state']}" for t in tasks)


def check_broken_api_is_named(stack: Stack) -> str:
    """A fault drill: the API pointed at a wrong MLflow host name must make the checks fail naming `api`."""
    broken = Stack(files=[*stack.files, HERE / "broken-api.yaml"])
    broken.compose("up", "--detach", "--no-deps", "api")
    try:
        check_api_serves_champion(broken, ready_timeout=45)
    except StepFailed as exc:
        if "service api" not in str(exc):
            raise StepFailed(f"the failure did not name the api service: {exc}") from None
        message = str(exc).splitlines()[0]
    else:
        raise StepFailed("the API with a wrong MLflow host name passed the checks")
    finally:
        stack.compose("up", "--detach", "--no-deps", "api")
    wait_healthy(stack, timeout=180, services={"api"})
    check_api_serves_champion(stack)
    return f"detected: {message[:120]}; api restored"


def run_steps(steps: list[tuple[str, Callable[[], str]]]) -> bool:
    report = []
    ok = True
    for name, step in steps:
        started = time.monotonic()
        try:
            detail = step()
            status = "pass"
        except StepFailed as exc:
            detail, status, ok = str(exc), "FAIL", False
        except Exception as exc:  # noqa: BLE001 (an unexpected error still ends in the report)
            detail, status, ok = f"{type(exc).__name__}: {exc}", "FAIL", False
        report.append((name, status, time.monotonic() - started, detail))
        print(
            f"[stack] {status:4} {name} ({report[-1][2]:.0f}s): {detail.splitlines()[0] if detail else ''}",
            flush=True,
        )
        if not ok:
            print(detail, flush=True)
            break
    print("\nstack test report")
    for name, status, seconds, _ in report:
        print(f"  {status:4} {seconds:7.1f}s  {name}")
    print(f"  total {sum(r[2] for r in report):.0f}s: {'PASS' if ok else 'FAIL'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2, help="Optuna trials per family in the pipeline run")
    parser.add_argument("--timeout-s", type=float, default=30.0, help="tuning timeout per family")
    parser.add_argument("--run-timeout", type=float, default=1800.0, help="seconds the pipeline run may take")
    parser.add_argument("--override", type=Path, action="append", default=[], help="extra compose file")
    parser.add_argument("--keep", action="store_true", help="leave the stack running at the end")
    args = parser.parse_args(argv)
    stack = Stack(files=[REPO / "docker-compose.yaml", HERE / "docker-compose.ci.yaml", *args.override])
    # scale_out imports this module by name: run as a script, this module is __main__, and a second copy
    # under the name `journey` would have its own StepFailed class.
    sys.modules.setdefault("journey", sys.modules[__name__])
    import live_evidence
    import scale_out

    steps = [
        ("build the project's images", lambda: check_stack_images_build(stack)),
        ("docker-compose up: every service healthy", lambda: check_stack_starts(stack)),
        ("ports on 127.0.0.1, valkey not root", lambda: check_exposure(stack)),
        ("api refuses to start without a reload token", lambda: check_api_refuses_start_without_token(stack)),
        (
            "burnout_pipeline triggered through Airflow's REST API",
            lambda: check_pipeline_runs(stack, args.trials, args.timeout_s, args.run_timeout),
        ),
        ("raw and processed objects in the lake", lambda: check_lake(stack)),
        ("MLflow has the runs and burnout-risk@champion", lambda: check_mlflow(stack)),
        ("api serves the champion on REST, GraphQL, gRPC, V2", lambda: check_api_serves_champion(stack)),
        ("both api replicas answer REST and gRPC", lambda: scale_out.check_replicas_answer(stack)),
        ("the champion explains itself, links its card", lambda: check_champion_explains(stack)),
        ("api restarted serves the champion again", lambda: check_api_restart(stack)),
        ("the prediction log holds what the api answered", lambda: check_prediction_log(stack)),
        (
            "the prediction log names both replicas",
            lambda: scale_out.check_log_names_replicas(stack),
        ),
        (
            "a replica restarts under load: no call fails",
            lambda: scale_out.check_restart_under_load(stack),
        ),
        (
            "an alias move reaches both replicas",
            lambda: scale_out.check_alias_move_reaches_replicas(stack),
        ),
        (
            "one family's tuning spread over both workers",
            lambda: scale_out.check_tuning_spreads_over_workers(stack, "knn", "tune", trials=8),
        ),
        ("a stream record answered by stream-worker", lambda: check_stream(stack)),
        ("batch_score scores the raw object", lambda: check_batch_score(stack)),
        (
            "batch_score partitions spread over both workers",
            lambda: scale_out.check_batch_score_partitions(stack),
        ),
        (
            "shadow, feedback, model_quality: live figures = offline",
            lambda: live_evidence.check_live_evidence(stack),
        ),
        ("drift_monitor runs on the prediction log", lambda: check_drift_monitor(stack)),
        ("a broken api is reported by name", lambda: check_broken_api_is_named(stack)),
    ]
    # A run that was killed leaves containers and volumes behind: start from nothing, as a new user does.
    stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "5", check=False, timeout=600)
    try:
        ok = run_steps(steps)
    finally:
        if not args.keep:
            stack.compose(
                "down", "--volumes", "--remove-orphans", "--timeout", "20", check=False, timeout=600
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
