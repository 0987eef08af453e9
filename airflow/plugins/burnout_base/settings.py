"""The one settings object of the platform, read from the environment and `.env`.

Every variable is `BURNOUT_<FIELD>` (e.g. `BURNOUT_HOME`, `BURNOUT_LAKE_BACKEND`). The defaults serve the
embedded mode: all local state (lake folder, MLflow SQLite store, Optuna storage) lives under
`BURNOUT_HOME`, so deleting that folder resets the platform. No endpoint, bucket or credential is hard-coded
for the full stack: docker compose passes them through `.env`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    raw_key: str = "enriched_employee_dataset.csv"

    # Tracking and registry.
    mlflow_tracking_uri: str | None = Field(default=None, description="Default sqlite:///<home>/mlflow.db.")
    mlflow_artifact_root: str | None = Field(
        default=None, description="Artifact root for new experiments; default <home>/mlartifacts."
    )
    registered_model_name: str = "burnout-risk"
    etl_experiment: str = "burnout-etl"
    training_experiment: str = "burnout-training"

    # ETL.
    seed: int = 42
    test_size: float = Field(default=0.2, gt=0, lt=1)

    # Tuning.
    tuning_trials: int = Field(default=30, ge=1)
    # The default budget keeps `burnout pipeline` on the real 22,750 rows under 10 minutes on 2 cores: the
    # timeout caps each family's tuning even on a busy machine (None = trials only).
    tuning_timeout_s: float | None = Field(default=100.0, gt=0, description="Per family; None = trials only.")
    cv_folds: int = Field(default=5, ge=2)
    optuna_storage: str | None = Field(
        default=None, description="RDB URL; default sqlite:///<home>/optuna.db."
    )

    # Pipeline input and the embedded demo.
    data_dir: Path = Field(default=Path("data"), description="Where burnout_pipeline looks for the raw CSV.")
    synthetic_rows: int = Field(default=22_750, ge=1, description="Rows generated when data_dir has no CSV.")
    demo_trials: int = Field(default=3, ge=1, description="Optuna trials per family in `burnout demo`.")

    # Serving.
    api_host: str = "0.0.0.0"
    api_port: int = 8800
    grpc_port: int = 50051
    # Ports of the other UIs when they run as local processes (`burnout local up`).
    airflow_port: int = 8080
    mlflow_port: int = 5001
    alias_poll_s: float = Field(default=10.0, gt=0)
    max_batch: int = Field(default=10_000, ge=1)
    # A batch of max_batch records takes about 4 MB of JSON; bigger bodies are refused (413) as they arrive.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    shutdown_grace_s: float = Field(
        default=10.0,
        ge=0,
        description="On SIGTERM: /ready turns 503 and gRPC health NOT_SERVING, new calls are refused, and "
        "calls in flight get this long to finish; the process exits 0 within it + 5 s, whatever clients do.",
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
    reload_token: SecretStr | None = None
    # Set where the service faces other clients (the compose stack): no token means no start.
    require_reload_token: bool = False
    api_url: str = Field(default="http://localhost:8800", description="Where DAGs POST /reload.")

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> Settings:
        self.home = self.home.expanduser().resolve()
        if self.lake_root is None:
            self.lake_root = self.home / "lake"
        if self.mlflow_tracking_uri is None:
            self.mlflow_tracking_uri = f"sqlite:///{self.home / 'mlflow.db'}"
        if self.mlflow_artifact_root is None and self.mlflow_tracking_uri.startswith("sqlite:"):
            self.mlflow_artifact_root = (self.home / "mlartifacts").as_uri()
        if self.optuna_storage is None:
            self.optuna_storage = f"sqlite:///{self.home / 'optuna.db'}"
        if self.require_reload_token and not (
            self.reload_token and self.reload_token.get_secret_value().strip()
        ):
            raise ValueError(
                "BURNOUT_REQUIRE_RELOAD_TOKEN is set but BURNOUT_RELOAD_TOKEN is empty: POST /reload would "
                "be open to anyone (set API_RELOAD_TOKEN in .env for docker compose)."
            )
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

    def ensure_home(self) -> None:
        """Create the embedded-mode folders; called by commands, never at import time."""
        self.home.mkdir(parents=True, exist_ok=True)
        if self.lake_backend == "local":
            self.lake_root.mkdir(parents=True, exist_ok=True)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests build their own `Settings(...)` instead."""
    return Settings()
