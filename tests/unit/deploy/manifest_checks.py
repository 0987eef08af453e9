"""Offline checks of the Kubernetes manifests (deploy/kubernetes) and the Airflow values (deploy/airflow).

Each check takes rendered objects (or the values) and returns its problems, one string each, naming the object
and the field: an empty list is a pass. The tests run every check on the real manifests, and on a broken copy
to prove the check can fail.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from burnout_base.settings import Settings

REPO = Path(__file__).resolve().parents[3]
KUSTOMIZE_ROOT = REPO / "deploy" / "kubernetes"
AIRFLOW_VALUES = REPO / "deploy" / "airflow" / "values.yaml"
SECRETS_GENERATOR = KUSTOMIZE_ROOT / "create-secrets.example.sh"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
# The Kubernetes release the manifests target; kubectl (make install) is of the same minor version.
KUBERNETES_VERSION = "1.32.0"
CUSTOM_RESOURCE_SCHEMAS = {
    ("serving.kserve.io/v1beta1", "InferenceService"): "kserve-v0.20.0-inferenceservice-v1beta1.schema.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "keda-v2.20.2-scaledobject-v1alpha1.schema.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda-v2.20.2-triggerauthentication-v1alpha1.schema.json",
}
AIRFLOW_VALUES_SCHEMA = "airflow-chart-1.22.0.values.schema.json"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
# Container ports named so carry the setting that opens them.
PORT_SETTINGS = {"http": "api_port", "grpc": "grpc_port", "metrics": "stream_worker_metrics_port"}
OUR_IMAGE_PREFIX = "burnout-"
# Environment names that hold a credential whatever their value: the Settings' secret fields, the usual words.
SECRET_SETTINGS = {
    f"BURNOUT_{name.upper()}"
    for name, field in Settings.model_fields.items()
    if "SecretStr" in str(field.annotation)
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|FERNET|CREDENTIAL")
# A URL with a password in it: scheme://user:password@host.
CREDENTIALS_IN_URL = re.compile(r"://[^/@\s]*:[^/@\s]+@")
# The chart's values that would inline a secret; ours name Secrets instead.
AIRFLOW_INLINE_SECRETS = [
    ("fernetKey",),
    ("apiSecretKey",),
    ("jwtSecret",),
    ("webserverSecretKey",),
    ("data", "metadataConnection"),
    ("data", "resultBackendConnection"),
    ("data", "brokerUrl"),
    ("redis", "password"),
]


# --- Rendering -------------------------------------------------------------------------------------------


def kubectl() -> Path:
    """The kubectl that `make install` puts in the virtualenv (not whatever the machine has on PATH)."""
    path = Path(sys.prefix) / "bin" / "kubectl"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make install`, which installs it")
    return path


def render(directory: Path) -> list[dict]:
    """The objects `kubectl kustomize <directory>` renders (what `kubectl apply -k` would send)."""
    done = subprocess.run(
        [str(kubectl()), "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"{directory} does not render: {done.stderr.strip()}")
    return [obj for obj in yaml.safe_load_all(done.stdout) if obj]


def overlays() -> list[Path]:
    return sorted(path for path in (KUSTOMIZE_ROOT / "overlays").iterdir() if path.is_dir())


@cache
def rendered(directory: Path) -> tuple[dict, ...]:
    """`render`, once per directory and test session; callers deep-copy before changing anything."""
    return tuple(render(directory))


def airflow_values() -> dict:
    return yaml.safe_load(AIRFLOW_VALUES.read_text(encoding="utf-8"))


# --- Walking the objects -----------------------------------------------------------------------------------


def describe(obj: dict) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def pod_spec(obj: dict) -> dict | None:
    """The pod template's spec of a workload; an InferenceService's predictor is one too."""
    if obj.get("kind") in WORKLOAD_KINDS:
        return obj["spec"]["template"]["spec"]
    if obj.get("kind") == "InferenceService":
        return obj["spec"]["predictor"]
    return None


def containers(objects: list[dict]) -> Iterator[tuple[str, dict]]:
    """(object/container, container) for every container and init container of every pod."""
    for obj in objects:
        spec = pod_spec(obj)
        for container in (spec or {}).get("initContainers", []) + (spec or {}).get("containers", []):
            yield f"{describe(obj)} container {container['name']}", container


def config_maps(objects: list[dict]) -> dict[str, dict]:
    return {obj["metadata"]["name"]: obj.get("data", {}) for obj in objects if obj["kind"] == "ConfigMap"}


def container_environment(container: dict, maps: dict[str, dict]) -> dict[str, str]:
    """The literal environment a container gets: its ConfigMaps (envFrom), then its own `value`s."""
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environment.update(maps.get(source.get("configMapRef", {}).get("name"), {}))
    for variable in container.get("env", []):
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
    return environment


def split_image(image: str) -> tuple[str, str | None]:
    """(name, tag) of an image reference; the tag is None when there is none."""
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no colon, or the colon was a registry's port
        return image, None
    return name, tag


# --- Schemas ---------------------------------------------------------------------------------------------


def strict(schema: Any) -> Any:
    """A copy of an OpenAPI/JSON schema where an object with listed properties refuses any other, as the API
    server's strict field validation (and Helm's with a closed schema) does. Objects that keep unknown fields
    on purpose (x-kubernetes-preserve-unknown-fields) or say what extra fields may hold stay open."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: strict(value) for key, value in schema.items()}
    if (
        isinstance(schema.get("properties"), dict)
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        closed["additionalProperties"] = False
    return closed


@cache
def strict_schema(filename: str) -> dict:
    return strict(json.loads((SCHEMAS / filename).read_text(encoding="utf-8")))


def schema_errors(validator_class: type, schema: dict, document: dict) -> list[str]:
    errors = validator_class(schema).iter_errors(document)
    return [f"{'.'.join(map(str, error.path)) or '(root)'}: {error.message}" for error in errors]


def kubernetes_schema_problems(objects: list[dict]) -> list[str]:
    """Built-in kinds against the Kubernetes schema (kubernetes-validate, strict: an unknown field fails);
    custom resources against their vendored CRD schema, made strict the same way; any other kind fails."""
    problems = []
    for obj in objects:
        schema_file = CUSTOM_RESOURCE_SCHEMAS.get((obj.get("apiVersion"), obj.get("kind")))
        if schema_file is not None:
            errors = schema_errors(jsonschema.Draft7Validator, strict_schema(schema_file), obj)
            problems += [f"{describe(obj)}: {error}" for error in errors]
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(map(str, error.path)) or "(root)"
            problems.append(f"{describe(obj)}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{describe(obj)}: no schema for {obj.get('apiVersion')} {obj.get('kind')}")
    return problems


def airflow_values_problems(values: dict) -> list[str]:
    """The values against the chart's values.schema.json, strict: a misspelt key fails instead of being
    ignored by the chart."""
    errors = schema_errors(jsonschema.Draft7Validator, strict_schema(AIRFLOW_VALUES_SCHEMA), values)
    return [f"deploy/airflow/values.yaml: {error}" for error in errors]


# --- Cross-checks against the code -------------------------------------------------------------------------


def setting_names(objects: list[dict], values: dict) -> Iterator[tuple[str, str]]:
    """(where, variable) for every BURNOUT_* variable the manifests and the Airflow values set."""
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            for key in obj.get("data", {}):
                yield f"{describe(obj)} data", key
    for where, container in containers(objects):
        for variable in container.get("env", []):
            yield f"{where} env", variable["name"]
    for variable in values.get("env", []):
        yield "deploy/airflow/values.yaml env", variable["name"]
    for variable in values.get("secret", []):
        yield "deploy/airflow/values.yaml secret", variable["envName"]


def settings_problems(objects: list[dict], values: dict) -> list[str]:
    """Every BURNOUT_* variable is a field of the Settings model (a misspelt one is silently ignored)."""
    fields = set(Settings.model_fields)
    return [
        f"{where}: {name} is no Settings field"
        for where, name in setting_names(objects, values)
        if name.startswith("BURNOUT_") and name.removeprefix("BURNOUT_").lower() not in fields
    ]


def our_service_containers(objects: list[dict]) -> Iterator[tuple[str, dict]]:
    for where, container in containers(objects):
        if split_image(container["image"])[0].endswith(f"{OUR_IMAGE_PREFIX}api"):
            yield where, container


def probe_problems(objects: list[dict], routes: set[str]) -> list[str]:
    """Every HTTP probe of the service's containers asks a route the service serves."""
    problems = []
    for where, container in our_service_containers(objects):
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            path = container.get(probe, {}).get("httpGet", {}).get("path")
            if path is not None and path not in routes:
                problems.append(f"{where} {probe}: {path} is no route of the service")
    return problems


def port_problems(objects: list[dict]) -> list[str]:
    """Container ports equal the settings that open them (BURNOUT_API_PORT, ...; the default when unset), and
    BURNOUT_API_WORKERS equals the CPU limit, since the service starts one process per CPU it may use."""
    maps = config_maps(objects)
    problems = []
    for where, container in our_service_containers(objects):
        environment = container_environment(container, maps)
        for port in container.get("ports", []):
            setting = PORT_SETTINGS.get(port.get("name"))
            if setting is None:
                continue
            variable = f"BURNOUT_{setting.upper()}"
            expected = int(environment.get(variable, Settings.model_fields[setting].default))
            if port["containerPort"] != expected:
                problems.append(
                    f"{where} port {port['name']}: containerPort {port['containerPort']} but {variable} "
                    f"is {expected}"
                )
        workers = environment.get("BURNOUT_API_WORKERS")
        cpu_limit = str(container.get("resources", {}).get("limits", {}).get("cpu"))
        if workers is not None and workers != cpu_limit:
            problems.append(
                f"{where}: BURNOUT_API_WORKERS is {workers} but resources.limits.cpu is {cpu_limit}"
            )
    return problems


def compose_images() -> dict[str, str]:
    """{image name: tag} of every image docker-compose.yaml runs: the tags the project builds and tests."""
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text(encoding="utf-8"))
    return dict(
        split_image(service["image"]) for service in compose["services"].values() if "image" in service
    )


def image_problems(objects: list[dict], values: dict, allowed: dict[str, str]) -> list[str]:
    """Our images name what dockerfiles/ builds, at the tag compose gives them; any other image is pinned to
    the tag compose runs (the allow-list); none is `latest` or untagged. The Airflow values' image too."""
    airflow = values.get("images", {}).get("airflow", {})
    images = [(where, container["image"]) for where, container in containers(objects)]
    images.append(
        ("deploy/airflow/values.yaml images.airflow", f"{airflow.get('repository')}:{airflow.get('tag')}")
    )
    problems = []
    for where, image in images:
        name, tag = split_image(image)
        if tag is None or tag == "latest":
            problems.append(f"{where} image {image}: needs a pinned tag")
            continue
        if name.startswith(OUR_IMAGE_PREFIX):
            dockerfile = REPO / "dockerfiles" / name.removeprefix(OUR_IMAGE_PREFIX) / "Dockerfile"
            if not dockerfile.exists():
                problems.append(f"{where} image {name}: no {dockerfile.relative_to(REPO)} builds it")
                continue
        if allowed.get(name) != tag:
            problems.append(f"{where} image {image}: not in the allow-list {sorted(allowed.items())}")
    return problems


def looks_secret(name: str) -> bool:
    return name in SECRET_SETTINGS or bool(SECRET_NAME.search(name.upper()))


def secret_problems(objects: list[dict], values: dict) -> list[str]:
    """No credential is written in a manifest or in the values: Secrets are made apart (the example
    generator), credentials reach containers through secretKeyRef only, and no URL carries a password."""
    problems = []
    for obj in objects:
        if obj["kind"] == "Secret" and (obj.get("data") or obj.get("stringData")):
            problems.append(f"{describe(obj)}: a Secret with its values in the manifests")
        if obj["kind"] == "ConfigMap":
            for key, value in obj.get("data", {}).items():
                if looks_secret(key) or CREDENTIALS_IN_URL.search(str(value)):
                    problems.append(f"{describe(obj)} data {key}: a credential in a ConfigMap")
    literal_env = [
        (where, variable) for where, container in containers(objects) for variable in container.get("env", [])
    ]
    literal_env += [("deploy/airflow/values.yaml env", variable) for variable in values.get("env", [])]
    for where, variable in literal_env:
        if "value" in variable and (
            looks_secret(variable["name"]) or CREDENTIALS_IN_URL.search(variable["value"])
        ):
            problems.append(f"{where} env {variable['name']}: a credential written as a value")
    for keys in AIRFLOW_INLINE_SECRETS:
        value: Any = values
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value:
            problems.append(f"deploy/airflow/values.yaml {'.'.join(keys)}: a credential written as a value")
    return problems


def reference_problems(objects: list[dict]) -> list[str]:
    """Every ConfigMap a pod reads is rendered under that name (kustomize renames generated ones, and only
    updates the references it knows of)."""
    names = set(config_maps(objects))
    problems = []
    for obj in objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        referenced = [
            volume["configMap"]["name"] for volume in spec.get("volumes", []) if "configMap" in volume
        ]
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            referenced += [
                source["configMapRef"]["name"]
                for source in container.get("envFrom", [])
                if "configMapRef" in source
            ]
            referenced += [
                variable["valueFrom"]["configMapKeyRef"]["name"]
                for variable in container.get("env", [])
                if "configMapKeyRef" in variable.get("valueFrom", {})
            ]
        problems += [
            f"{describe(obj)}: ConfigMap {name} is not rendered" for name in referenced if name not in names
        ]
    return problems


def secret_references(objects: list[dict], values: dict) -> set[tuple[str, str]]:
    """(Secret, key) pairs the manifests and the Airflow values read."""
    pairs = set()
    for _, container in containers(objects):
        for variable in container.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                pairs.add((ref["name"], ref["key"]))
    for obj in objects:
        if obj["kind"] == "TriggerAuthentication":
            pairs |= {(ref["name"], ref["key"]) for ref in obj["spec"].get("secretTargetRef", [])}
    pairs |= {(ref["secretName"], ref["secretKey"]) for ref in values.get("secret", [])}
    # The chart reads the key `connection` of its connection Secrets, and fixed keys of its key Secrets.
    pairs |= {
        (name, "connection") for key, name in values.get("data", {}).items() if key.endswith("SecretName")
    }
    for key, secret_key in {
        "fernetKeySecretName": "fernet-key",
        "apiSecretKeySecretName": "api-secret-key",
        "jwtSecretName": "jwt-secret",
    }.items():
        if values.get(key):
            pairs.add((values[key], secret_key))
    return pairs


def generated_secrets(environment: dict[str, str]) -> set[tuple[str, str]]:
    """(Secret, key) pairs the example generator makes, run with the given credentials (offline)."""
    done = subprocess.run(
        ["bash", str(SECRETS_GENERATOR)],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "KUBECTL": str(kubectl()),
            **environment,
        },
    )
    if done.returncode != 0:
        raise RuntimeError(f"{SECRETS_GENERATOR.name} failed: {done.stderr.strip()}")
    secrets = [obj for obj in yaml.safe_load_all(done.stdout) if obj]
    return {(obj["metadata"]["name"], key) for obj in secrets for key in obj.get("data", {})}


def broken(objects: tuple[dict, ...] | list[dict]) -> list[dict]:
    """A copy to break in a test."""
    return copy.deepcopy(list(objects))
