"""The one settings object of the platform, read from the environment and `.env`.

Every variable is `BURNOUT_<FIELD>` (e.g. `BURNOUT_HOME`, `BURNOUT_LAKE_BACKEND`). The defaults serve the
embedded mode: all local state (lake folder, MLflow SQLite store, Optuna storage) lives under
`BURNOUT_HOME`, so deleting that folder resets the platform. No endpoint, bucket or credential is hard-coded
for the full stack: docker compose passes them through `.env`.
"""

from __future__ import annotations

import secrets
import socket
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """Settings that load but cannot do what was asked (e.g. serve without a reload token)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BURNOUT_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".local"), description="Root of all embedded-mode state.")

    # Lake: a local folder (embedded) or S3/MinIO (compose).
    lake_backend: Literal["local", "s3"] = "local"
    lake_root: Path | None = Field(default=None, description="Local lake folder; default <home>/lake.")
    s3_endpoint_url: str | None = None
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"
    raw_bucket: str = "raw"
    processed_bucket: str = "processed"
    predictions_bucket: str = Field(default="predictions", description="The prediction log (monitoring).")
    feedback_bucket: str = Field(
        default="feedback", description="Observed outcomes (POST /feedback), date-partitioned Parquet."
    )
    raw_key: str = "enriched_employee_dataset.csv"

    # Tracking and registry.
    mlflow_tracking_uri: str | None = Field(default=None, description="Default sqlite:///<home>/mlflow.db.")
    mlflow_artifact_root: str | None = Field(
        default=None, description="Artifact root for new experiments; default <home>/mlartifacts."
    )
    registered_model_name: str = "burnout-risk"
    etl_experiment: str = "burnout-etl"
    training_experiment: str = "burnout-training"
    scoring_experiment: str = "burnout-scoring"
    # Batch scoring splits its input into partitions of about this size (CSV bytes, Parquet row groups'
    # compressed bytes), one mapped task each; a file of more than 64 of them gets bigger partitions.
    score_partition_bytes: int = Field(default=32 << 20, ge=1024, description="Batch scoring partition size.")

    # ETL.
    seed: int = 42
    test_size: float = Field(default=0.2, gt=0, lt=1)

    # Tuning.
    tuning_trials: int = Field(default=30, ge=1)
    # The default budget keeps `burnout pipeline` on the real 22,750 rows under 10 minutes on 2 cores: the
    # timeout caps each family's tuning even on a busy machine (None = trials only).
    tuning_timeout_s: float | None = Field(default=100.0, gt=0, description="Per family; None = trials only.")
    cv_folds: int = Field(default=5, ge=2)
    # Mapped tuning tasks per family sharing the study (any Celery worker); one in a single process, where
    # more would only take turns. Compose sets 2.
    tuning_workers: int = Field(default=1, ge=1, le=16, description="Tuning tasks per family.")
    optuna_storage: str | None = Field(
        default=None, description="RDB URL; default sqlite:///<home>/optuna.db."
    )

    # Drift monitoring (monitoring.drift): the prediction log's window against the champion's training split.
    monitoring_experiment: str = "burnout-monitoring"
    drift_window_days: int = Field(default=1, ge=1, description="Days of logged predictions, today included.")
    drift_min_rows: int = Field(default=200, ge=1, description="Fewer logged rows in the window: a skip.")
    # Distances, not p-values: a day of a busy service has enough rows to make any test significant. On 200
    # unshifted rows the features' noise stays under 0.14 and the predicted classes' under 0.06; fatigue
    # scores raised by 2 score about 1.0, and the predicted classes about 0.2.
    drift_feature_threshold: float = Field(
        default=0.2,
        gt=0,
        description="A feature drifts when its distance to the training split reaches this: Wasserstein "
        "normed by the training split's std for numeric features, Jensen-Shannon for categories.",
    )
    drift_share_threshold: float = Field(
        default=0.3, gt=0, le=1, description="Retrain when this share of the features drifts."
    )
    drift_prediction_threshold: float = Field(
        default=0.1,
        gt=0,
        description="Retrain when the predicted classes' Jensen-Shannon distance to the training split's "
        "classes reaches this, however few features drift.",
    )

    # Live quality (monitoring.quality, issue 24): logged predictions joined with the outcomes posted later.
    quality_window_days: int = Field(
        default=30, ge=1, description="Days of logged predictions joined with their outcomes, today included."
    )
    quality_min_rows: int = Field(
        default=200,
        ge=1,
        description="Labelled rows the champion needs before its live macro-F1 may request retraining (below "
        "its TEST interval's lower bound).",
    )
    quality_bootstrap: int = Field(default=1_000, ge=100, description="Bootstrap resamples per interval.")
    # Promotion on live evidence (off by default): the challenger takes the champion alias when its paired
    # live macro-F1 difference is above zero with 95 % confidence on enough labelled shadow rows.
    promote_on_live_evidence: bool = Field(
        default=False, description="Promote the challenger on its paired live difference (shadow)."
    )
    live_promotion_min_rows: int = Field(
        default=200, ge=1, description="Labelled shadow pairs the live promotion rule needs at least."
    )

    # Pipeline input and the embedded demo.
    data_dir: Path = Field(default=Path("data"), description="Where burnout_pipeline looks for the raw CSV.")
    synthetic_rows: int = Field(default=22_750, ge=1, description="Rows generated when data_dir has no CSV.")
    demo_trials: int = Field(default=3, ge=1, description="Optuna trials per family in `burnout demo`.")

    # Serving.
    # Loopback unless told otherwise: the compose stack sets 0.0.0.0 inside its container.
    api_host: str = "127.0.0.1"
    api_port: int = 8800
    grpc_port: int = 50051
    # Ports of the other UIs when they run as local processes (`burnout local up`).
    airflow_port: int = 8080
    mlflow_port: int = 5001
    alias_poll_s: float = Field(default=10.0, gt=0)
    # Every core (issue 25): one process answers on one core, so the service starts this many, sharing both
    # ports (see burnout_api.workers).
    api_workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Processes serving HTTP and gRPC, sharing the ports; default the CPUs this process may "
        "use (CPU affinity and the cgroup quota, see burnout_base.cpus). `burnout demo` runs 1.",
    )
    # Compiled trees (issue 25): a LightGBM version is compiled to native code in the background at load time
    # and answers through LightGBM until then; the compiled library is cached here, never in the artifact
    # store.
    compiled_trees: bool = Field(
        default=True, description="Compile LightGBM versions to native code (lleaves) after loading them."
    )
    compiled_cache_dir: Path | None = Field(
        default=None,
        description="Cache of compiled models, one per version, compiler and CPU; default <home>/compiled.",
    )
    max_batch: int = Field(default=10_000, ge=1)
    # A batch of max_batch records takes about 4 MB of JSON; bigger bodies are refused (413) as they arrive.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    drain_delay_s: float = Field(
        default=0.0,
        ge=0,
        description="On SIGTERM: /ready turns 503 and gRPC health NOT_SERVING at once, but every call is "
        "still served for this long before the listeners close, so a load balancer sees the replica fail "
        "its check and stops sending first. Behind one, make it longer than its check interval times its "
        "fall count (compose: 5 s against HAProxy's 2 s, fall 1); alone, 0.",
    )
    shutdown_grace_s: float = Field(
        default=10.0,
        ge=0,
        description="On SIGTERM, once the drain delay is over: new calls are refused, and calls in flight "
        "get this long to finish; the process exits 0 within delay + grace + 5 s, whatever clients do.",
    )
    # Which replica answered: in compose the container's hostname (its id), one per `--scale api=N` replica.
    replica_name: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9._-]+$",  # safe as an HTTP header value and as gRPC metadata
        description="Names this process in the prediction log and in the replica header; default hostname.",
    )
    replica_header: bool = Field(
        default=True,
        description="Send X-Burnout-Replica on every HTTP answer and burnout-replica gRPC trailing metadata.",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="A request's headers must be complete this long after its first byte (or after the "
        "connection opened); otherwise 408 and the connection is closed.",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="A request's whole body must arrive within this long once it is being served (8 MiB at "
        "280 kB/s); otherwise 408 and the connection is closed.",
    )
    # The prediction log (issue 13): every answered prediction, appended to <predictions_bucket> in the lake
    # by a background writer; a full queue drops rows (counted in /metrics) rather than slow the answers.
    prediction_log_enabled: bool = Field(default=True, description="Log every answered prediction.")
    prediction_log_queue_rows: int = Field(
        default=100_000, ge=1, description="Rows queued or being written at most; past it, rows are dropped."
    )
    prediction_log_flush_rows: int = Field(default=5_000, ge=1, description="Write once this many rows wait.")
    prediction_log_flush_s: float = Field(
        default=10.0, gt=0, description="Write at least this often while rows wait."
    )
    prediction_log_employee_id: bool = Field(
        default=True,
        description="Write each record's Employee ID (when sent) to the prediction log; false leaves the "
        "identifier out (feedback can then match by request id only).",
    )
    # Challengers on live traffic (issue 24). Shadow: a share of requests is also scored by another alias, off
    # the request path, and logged with role "shadow"; the answer never waits for it nor changes. Canary: a
    # stable hash (of the record's Employee ID, else of the request id) sends a percentage to another alias.
    shadow_alias: str = Field(default="", description="Alias scored in shadow; empty: off.")
    shadow_fraction: float = Field(default=1.0, ge=0, le=1, description="Share of requests shadowed.")
    shadow_queue_rows: int = Field(
        default=20_000, ge=1, description="Records waiting for the shadow model at most; past it, dropped."
    )
    canary_alias: str = Field(default="", description="Alias serving the canary share; empty: off.")
    canary_percent: float = Field(default=0.0, ge=0, le=100, description="Percent of records to the canary.")
    # The bearer token of POST /reload. The service does not start without one (fail closed); `burnout demo`
    # and `burnout local up` make one up for their run when none is set (`with_session_token`).
    reload_token: SecretStr | None = None
    api_url: str = Field(default="http://localhost:8800", description="Where DAGs POST /reload.")
    # GraphQL documents are checked before they execute; records come in variables (max_batch). A record
    # written inline takes about 45 tokens, so the default token limit fits about a hundred of them.
    graphql_max_query_chars: int = Field(default=64 * 1024, ge=1024, description="Length of the query text.")
    graphql_max_tokens: int = Field(default=5_000, ge=100, description="Tokens the parser reads at most.")
    graphql_max_depth: int = Field(default=8, ge=2, description="Nesting of selections.")
    graphql_max_aliases: int = Field(default=20, ge=1, description="Aliased fields per document.")
    # Explanations (issue 14) cost far more than predictions, so a request asking for them is bounded before
    # any work: TreeSHAP takes about 0.6 ms a record, the permutation method (any non-tree model) scores
    # about 3,000 rows a record, 0.25 s for a KNN and 0.8 s for an SVM.
    explain_max_records: int = Field(
        default=100, ge=1, description="Records one request may ask exact (TreeSHAP) explanations for."
    )
    explain_max_records_approximate: int = Field(
        default=10,
        ge=1,
        description="Records one request may ask approximate (permutation) explanations for.",
    )
    # Where people open MLflow: in compose the browser reaches it at another address than the service does.
    mlflow_ui_url: str | None = Field(
        default=None,
        description="MLflow UI base URL for the links of /models; default the tracking URI when it is "
        "http(s), else no links.",
    )

    # Streams (Redis or Valkey): POST /predict_stream enqueues records, `burnout stream-worker` scores them.
    # Unset or empty: no stream (the route answers 503). The defaults name a local Redis, db 0.
    redis_url: str | None = Field(default="redis://localhost:6379/0", description="Empty: streams off.")
    stream_requests: str = "burnout:requests"
    stream_results: str = "burnout:results"
    stream_dead: str = Field(default="burnout:dead", description="Dead letters: records that cannot score.")
    stream_group: str = "burnout-workers"
    stream_batch_size: int = Field(default=256, ge=1, description="Records a worker scores at a time.")
    stream_block_ms: int = Field(default=2_000, ge=1, description="How long one read waits for records.")
    stream_claim_idle_s: float = Field(
        default=60.0, gt=0, description="A record unacknowledged this long is taken over from its worker."
    )
    stream_max_deliveries: int = Field(
        default=3, ge=1, description="A record delivered this often without an answer goes to dead letters."
    )
    stream_max_len: int = Field(default=100_000, ge=1, description="Results and dead letters kept (about).")
    stream_worker_metrics_port: int = Field(
        default=9101, ge=0, le=65535, description="The stream worker's /metrics port (0 = off)."
    )
    stream_heartbeat_file: Path | None = Field(
        default=None, description="Touched by the worker at every loop (its container healthcheck)."
    )

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> Settings:
        self.home = self.home.expanduser().resolve()
        if self.lake_root is None:
            self.lake_root = self.home / "lake"
        if self.compiled_cache_dir is None:
            self.compiled_cache_dir = self.home / "compiled"
        if self.mlflow_tracking_uri is None:
            self.mlflow_tracking_uri = f"sqlite:///{self.home / 'mlflow.db'}"
        if self.mlflow_artifact_root is None and self.mlflow_tracking_uri.startswith("sqlite:"):
            self.mlflow_artifact_root = (self.home / "mlartifacts").as_uri()
        if self.optuna_storage is None:
            self.optuna_storage = f"sqlite:///{self.home / 'optuna.db'}"
        if self.redis_url is not None and not self.redis_url.strip():
            self.redis_url = None
        if self.reload_token is not None and not self.reload_token.get_secret_value().strip():
            self.reload_token = None  # an empty token is no token, never a token anyone can send
        if self.lake_backend == "s3" and not self.s3_endpoint_url:
            raise ValueError("BURNOUT_LAKE_BACKEND=s3 needs BURNOUT_S3_ENDPOINT_URL (and the S3 keys).")
        return self

    def to_environment(self) -> dict[str, str | None]:
        """These settings as the BURNOUT_* variables that rebuild them in another process (None = unset):
        secrets unmasked, relative paths resolved against this process's folder."""
        env: dict[str, str | None] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, Path):
                value = value.resolve()
            env[f"BURNOUT_{name.upper()}"] = None if value is None else str(value)
        return env

    def check_serving(self) -> None:
        """Refuse to serve without a reload token: POST /reload would otherwise be open to anyone."""
        if self.reload_token is None:
            raise SettingsError(
                "BURNOUT_RELOAD_TOKEN is empty: the service does not start without the bearer token of "
                "POST /reload (docker compose: set API_RELOAD_TOKEN in .env; `burnout demo` and "
                "`burnout local up` make one up for their run)"
            )

    def with_session_token(self) -> Settings:
        """These settings, with a reload token when none is set: a random one kept in `<home>/reload_token`
        (readable by this user only), so the API and the Airflow tasks that call /reload share it through
        the environment, across `local up` runs too."""
        if self.reload_token is not None:
            return self
        path = self.home / "reload_token"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(24))
        return self.model_copy(update={"reload_token": SecretStr(path.read_text().strip())})

    def ensure_home(self) -> None:
        """Create the embedded-mode folders; called by commands, never at import time."""
        self.home.mkdir(parents=True, exist_ok=True)
        if self.lake_backend == "local":
            self.lake_root.mkdir(parents=True, exist_ok=True)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests build their own `Settings(...)` instead."""
    return Settings()


def setting_default(field: str) -> Any:
    """The built-in default of a Settings field: what applies when no BURNOUT_<FIELD> variable sets it."""
    return Settings.model_fields[field].default


def describe_seconds(seconds: float | None) -> str:
    """A timeout as the forms and --help show it: "100 s", or "none" for no timeout."""
    return "none" if seconds is None else f"{seconds:g} s"
