"""The Kubernetes manifests and the Airflow chart values, validated offline: every overlay renders with the
kubectl `make install` provides, every object validates strictly against its pinned schema, and the
manifests agree with the code (settings, routes, ports, images, secrets). Each check is also run on a broken
copy, to prove it fails and names the object and the field."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import manifest_checks as checks
import pytest

from burnout_api.main import create_app
from burnout_base.settings import Settings

OVERLAYS = checks.overlays()
ALL_RENDERED = [checks.KUSTOMIZE_ROOT / "base", *OVERLAYS]
# Credentials for running the example generator: any text that is not its placeholder.
GENERATOR_CREDENTIALS = {
    name: f"test-{name.lower()}"
    for name in (
        "POSTGRES_PASSWORD",
        "REDIS_PASSWORD",
        "S3_ACCESS_KEY",
        "S3_SECRET_KEY",
        "RELOAD_TOKEN",
        "AIRFLOW_FERNET_KEY",
        "AIRFLOW_API_SECRET_KEY",
        "AIRFLOW_JWT_SECRET",
    )
}


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    app = create_app(Settings(reload_token="x", home=tmp_path_factory.mktemp("home")))
    return {route.path for route in app.routes}


@pytest.fixture(scope="module")
def generated() -> set[tuple[str, str]]:
    """What the example generator makes (it runs kubectl a dozen times: once for the module)."""
    return checks.generated_secrets(GENERATOR_CREDENTIALS)


def objects_of(directory: Path) -> list[dict]:
    return list(checks.rendered(directory))


def find(objects: list[dict], kind: str, name: str) -> dict:
    (obj,) = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
    return obj


def first_container(objects: list[dict], kind: str, name: str) -> dict:
    return checks.pod_spec(find(objects, kind, name))["containers"][0]


def test_overlays_are_the_three_the_docs_describe() -> None:
    assert [path.name for path in OVERLAYS] == ["external-services", "kserve", "test-cluster"]


@pytest.mark.parametrize("directory", ALL_RENDERED, ids=lambda path: path.name)
def test_every_kustomization_renders(directory: Path) -> None:
    assert checks.rendered(directory)


def test_a_broken_kustomization_does_not_render(tmp_path: Path) -> None:
    copy = tmp_path / "kubernetes"
    shutil.copytree(checks.KUSTOMIZE_ROOT, copy)
    (copy / "base" / "mlflow.yaml").unlink()
    with pytest.raises(RuntimeError, match="mlflow.yaml"):
        checks.render(copy / "overlays" / "test-cluster")


@pytest.mark.parametrize("directory", ALL_RENDERED, ids=lambda path: path.name)
def test_every_object_validates_against_its_pinned_schema(directory: Path) -> None:
    assert checks.kubernetes_schema_problems(objects_of(directory)) == []


def test_the_airflow_values_validate_against_the_charts_schema() -> None:
    assert checks.airflow_values_problems(checks.airflow_values()) == []


@pytest.mark.parametrize("directory", ALL_RENDERED, ids=lambda path: path.name)
def test_the_manifests_agree_with_the_code(directory: Path, routes: set[str]) -> None:
    objects, values = objects_of(directory), checks.airflow_values()
    assert checks.settings_problems(objects, values) == []
    assert checks.probe_problems(objects, routes) == []
    assert checks.port_problems(objects) == []
    assert checks.image_problems(objects, values, checks.compose_images()) == []
    assert checks.secret_problems(objects, values) == []
    assert checks.reference_problems(objects) == []


def test_the_example_generator_makes_every_secret_the_manifests_read(generated: set[tuple[str, str]]) -> None:
    values = checks.airflow_values()
    for directory in ALL_RENDERED:
        missing = checks.secret_references(objects_of(directory), values) - generated
        assert missing == set(), f"{directory.name} reads Secrets the generator does not make"


def test_the_example_generator_refuses_its_placeholders() -> None:
    with pytest.raises(RuntimeError, match="RELOAD_TOKEN"):
        checks.generated_secrets({**GENERATOR_CREDENTIALS, "RELOAD_TOKEN": "CHANGE-ME"})


def test_the_api_is_what_the_issue_asks() -> None:
    objects = objects_of(checks.KUSTOMIZE_ROOT / "base")
    api = find(objects, "Deployment", "burnout-api")
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert api["spec"]["replicas"] == 2
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert api["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    service_ports = {port["name"]: port for port in find(objects, "Service", "burnout-api")["spec"]["ports"]}
    assert service_ports["grpc"]["appProtocol"] == "kubernetes.io/h2c"
    trigger = find(objects, "ScaledObject", "burnout-stream-worker")["spec"]["triggers"][0]
    assert trigger["type"] == "redis-streams"
    # The scaler watches the stream and group the workers use (their settings' defaults: none is overridden).
    assert trigger["metadata"]["stream"] == Settings.model_fields["stream_requests"].default
    assert trigger["metadata"]["consumerGroup"] == Settings.model_fields["stream_group"].default


def test_the_kserve_predictor_is_a_raw_deployment_custom_container() -> None:
    service = find(
        objects_of(checks.KUSTOMIZE_ROOT / "overlays" / "kserve"), "InferenceService", "burnout-api"
    )
    assert service["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert [container["name"] for container in service["spec"]["predictor"]["containers"]] == [
        "kserve-container"
    ]
    assert "canaryTrafficPercent" not in service["spec"]["predictor"]


# --- Each check fails on a broken copy, naming the object and the field ------------------------------------

BASE = checks.KUSTOMIZE_ROOT / "base"
KSERVE = checks.KUSTOMIZE_ROOT / "overlays" / "kserve"
TEST_CLUSTER = checks.KUSTOMIZE_ROOT / "overlays" / "test-cluster"


def unknown_probe_field(objects: list[dict]) -> None:
    first_container(objects, "Deployment", "burnout-api")["readinessProbe"]["httpGett"] = {"path": "/ready"}


def unknown_scaled_object_field(objects: list[dict]) -> None:
    find(objects, "ScaledObject", "burnout-stream-worker")["spec"]["triggers"][0]["metadatas"] = {}


def unknown_predictor_container_field(objects: list[dict]) -> None:
    first_container(objects, "InferenceService", "burnout-api")["portz"] = []


def unknown_kind(objects: list[dict]) -> None:
    objects.append({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})


@pytest.mark.parametrize(
    ("directory", "breakage", "expected"),
    [
        (BASE, unknown_probe_field, "Deployment/burnout-api: spec.template.spec.containers.0.readinessProbe"),
        (BASE, unknown_scaled_object_field, "ScaledObject/burnout-stream-worker: spec.triggers.0"),
        (
            KSERVE,
            unknown_predictor_container_field,
            "InferenceService/burnout-api: spec.predictor.containers.0",
        ),
        (BASE, unknown_kind, "Widget/w: no schema"),
    ],
    ids=lambda value: getattr(value, "__name__", None) or getattr(value, "name", None) or "",
)
def test_the_schema_check_fails_on_a_broken_copy(
    directory: Path, breakage: Callable[[list[dict]], None], expected: str
) -> None:
    objects = checks.broken(checks.rendered(directory))
    breakage(objects)
    problems = checks.kubernetes_schema_problems(objects)
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_the_airflow_values_check_fails_on_a_misspelt_key() -> None:
    values = checks.airflow_values()
    values["workers"]["celery"]["keda"]["enable"] = True
    problems = checks.airflow_values_problems(values)
    assert len(problems) == 1 and "workers.celery.keda" in problems[0] and "'enable'" in problems[0], problems


def test_the_settings_check_fails_on_a_variable_no_field_reads() -> None:
    objects = checks.broken(checks.rendered(BASE))
    first_container(objects, "Deployment", "burnout-stream-worker")["env"].append(
        {"name": "BURNOUT_STREAM_WORKERS", "value": "2"}
    )
    values = checks.airflow_values()
    values["env"].append({"name": "BURNOUT_TUNNING_WORKERS", "value": "2"})
    assert checks.settings_problems(objects, values) == [
        "Deployment/burnout-stream-worker container stream-worker env: "
        "BURNOUT_STREAM_WORKERS is no Settings field",
        "deploy/airflow/values.yaml env: BURNOUT_TUNNING_WORKERS is no Settings field",
    ]


def test_the_probe_check_fails_on_a_path_the_service_does_not_serve(routes: set[str]) -> None:
    objects = checks.broken(checks.rendered(KSERVE))
    first_container(objects, "InferenceService", "burnout-api")["readinessProbe"]["httpGet"]["path"] = (
        "/readyz"
    )
    assert checks.probe_problems(objects, routes) == [
        "InferenceService/burnout-api container kserve-container readinessProbe: "
        "/readyz is no route of the service"
    ]


def test_the_port_check_fails_when_a_port_differs_from_its_setting() -> None:
    objects = checks.broken(checks.rendered(BASE))
    first_container(objects, "Deployment", "burnout-api")["ports"][1]["containerPort"] = 50052
    first_container(objects, "Deployment", "burnout-stream-worker")["ports"][0]["containerPort"] = 9102
    assert checks.port_problems(objects) == [
        "Deployment/burnout-api container api port grpc: containerPort 50052 but BURNOUT_GRPC_PORT is 50051",
        "Deployment/burnout-stream-worker container stream-worker port metrics: containerPort 9102 but "
        "BURNOUT_STREAM_WORKER_METRICS_PORT is 9101",
    ]


def test_the_port_check_fails_when_the_workers_differ_from_the_cpu_limit() -> None:
    objects = checks.broken(checks.rendered(BASE))
    first_container(objects, "Deployment", "burnout-api")["resources"]["limits"]["cpu"] = "4"
    assert checks.port_problems(objects) == [
        "Deployment/burnout-api container api: BURNOUT_API_WORKERS is 2 but resources.limits.cpu is 4"
    ]


@pytest.mark.parametrize(
    ("kind", "name", "image", "expected"),
    [
        ("Deployment", "burnout-api", "burnout-api:latest", "needs a pinned tag"),
        ("Deployment", "mlflow", "burnout-mlflow", "needs a pinned tag"),
        ("Deployment", "burnout-stream-worker", "burnout-worker:0.1.0", "no dockerfiles/worker/Dockerfile"),
        ("Deployment", "burnout-api", "burnout-api:0.2.0", "not in the allow-list"),
        ("StatefulSet", "postgres", "postgres:17", "not in the allow-list"),
        ("StatefulSet", "valkey", "redis:8.2.1", "not in the allow-list"),
    ],
)
def test_the_image_check_fails_on_an_image_we_do_not_build_or_pin(
    kind: str, name: str, image: str, expected: str
) -> None:
    objects = checks.broken(checks.rendered(TEST_CLUSTER))
    first_container(objects, kind, name)["image"] = image
    problems = checks.image_problems(objects, checks.airflow_values(), checks.compose_images())
    assert (
        len(problems) == 1 and problems[0].startswith(f"{kind}/{name} container") and expected in problems[0]
    )


def test_the_image_check_fails_on_an_airflow_image_we_do_not_build() -> None:
    values = checks.airflow_values()
    values["images"]["airflow"]["repository"] = "apache/airflow"
    problems = checks.image_problems([], values, checks.compose_images())
    assert len(problems) == 1 and problems[0].startswith(
        "deploy/airflow/values.yaml images.airflow image apache/airflow:0.1.0: not in the allow-list"
    )


def test_the_secret_check_fails_on_an_inlined_credential() -> None:
    objects = checks.broken(checks.rendered(BASE))
    objects.append(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}
    )
    config = next(obj for obj in objects if obj["kind"] == "ConfigMap")
    config["data"]["BURNOUT_REDIS_URL"] = "redis://:hunter2@valkey:6379/1"
    env = first_container(objects, "Deployment", "burnout-api")["env"]
    token = next(variable for variable in env if variable["name"] == "BURNOUT_RELOAD_TOKEN")
    token.pop("valueFrom")
    token["value"] = "hunter2"
    values = checks.airflow_values()
    values["fernetKey"] = "hunter2"
    problems = checks.secret_problems(objects, values)
    assert problems == [
        f"ConfigMap/{config['metadata']['name']} data BURNOUT_REDIS_URL: a credential in a ConfigMap",
        "Secret/s: a Secret with its values in the manifests",
        "Deployment/burnout-api container api env BURNOUT_RELOAD_TOKEN: a credential written as a value",
        "deploy/airflow/values.yaml fernetKey: a credential written as a value",
    ]


def test_the_reference_check_fails_on_a_configmap_kustomize_did_not_rename() -> None:
    objects = checks.broken(checks.rendered(KSERVE))
    first_container(objects, "InferenceService", "burnout-api")["envFrom"][0]["configMapRef"]["name"] = (
        "burnout-config"
    )
    assert checks.reference_problems(objects) == [
        "InferenceService/burnout-api: ConfigMap burnout-config is not rendered"
    ]


def test_the_reference_check_catches_kustomize_without_the_kserve_name_reference(tmp_path: Path) -> None:
    """What happened while the overlay was written: kustomize does not know the InferenceService's fields, so
    without name-references.yaml it left the ConfigMap's name without its hash suffix."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(checks.KUSTOMIZE_ROOT, copy)
    kustomization = copy / "overlays" / "kserve" / "kustomization.yaml"
    text = kustomization.read_text(encoding="utf-8")
    kustomization.write_text(
        text.replace("configurations:\n  - name-references.yaml\n", ""), encoding="utf-8"
    )
    assert checks.reference_problems(checks.render(copy / "overlays" / "kserve")) == [
        "InferenceService/burnout-api: ConfigMap burnout-config is not rendered"
    ]


def test_the_generator_check_fails_on_a_secret_it_does_not_make(generated: set[tuple[str, str]]) -> None:
    objects = checks.broken(checks.rendered(BASE))
    first_container(objects, "Deployment", "mlflow")["env"].append(
        {
            "name": "MLFLOW_TRACKING_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "mlflow-auth", "key": "password"}},
        }
    )
    assert checks.secret_references(objects, checks.airflow_values()) - generated == {
        ("mlflow-auth", "password")
    }
