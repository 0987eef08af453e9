"""The only code that talks to MLflow: which version each alias of the registered model points at, and loading
a version with its metadata (family, run, dataset version, test metrics)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from burnout_api.core.loaded_model import LoadedModel, ModelMetadata
from burnout_base.settings import Settings

log = logging.getLogger(__name__)


class ModelStore:
    """Reads the registry of `settings.registered_model_name`; any call may raise if MLflow is unreachable."""

    def __init__(self, settings: Settings, loader: Callable[[str], Any] | None = None):
        self.settings = settings
        self.name = settings.registered_model_name
        self._loader = loader
        self._client = None

    def fetch_aliases(self) -> dict[str, int]:
        """Alias -> version for the registered model; empty when it is not registered yet."""
        from mlflow.exceptions import MlflowException

        try:
            model = self._mlflow().get_registered_model(self.name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return {}
            raise
        return {alias: int(version) for alias, version in (model.aliases or {}).items()}

    def load_version(self, version: int) -> LoadedModel:
        """Load `models:/<name>/<version>` and what the registry and its training run say about it."""
        from modeling.model_io import describe_version

        described = describe_version(self._mlflow(), self.name, version)
        pipeline = self._load_pipeline(f"models:/{self.name}/{version}")
        metadata = ModelMetadata(
            version=described["model_version"],
            family=described["family"],
            run_id=described["run_id"],
            dataset_version=described["dataset_version"],
            test_metrics=described["test_metrics"],
            loaded_at=datetime.now(UTC),
        )
        loaded = LoadedModel(pipeline, metadata)
        log.info(
            "loaded %s version %s (%s, fast path: %s)",
            self.name,
            version,
            metadata.family,
            loaded.fast is not None,
        )
        return loaded

    def _load_pipeline(self, uri: str):
        from burnout_base.tracking import configure_mlflow

        loader = self._loader
        if loader is None:
            from modeling.model_io import load_model as loader
        # The agreed loader resolves models:/ URIs through the process-wide registry URI: point it at ours.
        configure_mlflow(self.settings)
        return loader(uri)

    def _mlflow(self):
        if self._client is None:
            from mlflow import MlflowClient

            uri = self.settings.mlflow_tracking_uri
            self._client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        return self._client
