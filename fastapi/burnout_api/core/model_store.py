"""The only code that talks to MLflow: which version each alias of the registered model points at (and moving
an alias on an operator's request), and loading a version with its metadata (family, run, dataset version,
test metrics, links to the MLflow UI) and what it is explained against."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from burnout_api.core.loaded_model import LoadedModel, ModelMetadata
from burnout_base.settings import Settings

log = logging.getLogger(__name__)
MODEL_TRAINING_VIEW = "workflowType=machine_learning"
# MLflow's HTTP client retries for minutes by default; the core retries on its own schedule and keeps serving.
# Download progress bars would only clutter the log. Processes with a core set these unless already set.
MLFLOW_CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


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

    def set_alias(self, alias: str, version: int) -> dict[str, int]:
        """Point `alias` at `version` and return the aliases after the change. An unknown version is
        UnknownModel (404); the champion's version as `challenger` is InvalidInput naming `version` (422)."""
        from mlflow.exceptions import MlflowException

        from burnout_api.core.errors import FieldError, InvalidInput, UnknownModel
        from modeling.registry_names import CHALLENGER, CHAMPION

        client = self._mlflow()
        try:
            client.get_model_version(self.name, str(version))
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            raise UnknownModel(f"registered model {self.name!r} has no version {version}") from None
        aliases = self.fetch_aliases()
        if alias == CHALLENGER and aliases.get(CHAMPION) == version:
            message = f"version {version} is the champion: a challenger must be another version"
            raise InvalidInput([FieldError(None, "version", "champion_version", message)])
        client.set_registered_model_alias(self.name, alias, str(version))
        log.info("alias %s set on version %s (was %s)", alias, version, aliases.get(alias))
        return {**aliases, alias: version}

    def delete_alias(self, alias: str) -> dict[str, int]:
        """Remove `alias` (nothing to do when it is not set) and return the aliases after the change."""
        aliases = self.fetch_aliases()
        if aliases.pop(alias, None) is not None:
            self._mlflow().delete_registered_model_alias(self.name, alias)
            log.info("alias %s removed", alias)
        return aliases

    def load_version(self, version: int) -> LoadedModel:
        """Load `models:/<name>/<version>` and what the registry and its training run say about it."""
        from modeling.explain import load_background
        from modeling.model_io import describe_version

        described = describe_version(self._mlflow(), self.name, version)
        pipeline = self._load_pipeline(f"models:/{self.name}/{version}")
        run_id = described["run_id"]
        metadata = ModelMetadata(
            version=described["model_version"],
            family=described["family"],
            run_id=run_id,
            dataset_version=described["dataset_version"],
            test_metrics=described["test_metrics"],
            loaded_at=datetime.now(UTC),
            links=self._links(run_id),
        )
        background = (lambda: load_background(run_id)) if run_id else None
        loaded = LoadedModel(pipeline, metadata, load_background=background)
        if self.settings.compiled_trees:
            loaded.compile_trees_in_background(self.settings.compiled_cache_dir)
        log.info(
            "loaded %s version %s (%s, fast path: %s, explainer: %s)",
            self.name,
            version,
            metadata.family,
            loaded.fast is not None,
            loaded.explainer.method if loaded.explainer is not None else None,
        )
        return loaded

    def _links(self, run_id: str | None) -> dict[str, str] | None:
        """The version's run page and, when the run logged them, its model card and importance chart, in the
        MLflow UI people open (BURNOUT_MLFLOW_UI_URL, else an http(s) tracking URI); None without one. Links
        are a convenience: failing to read them never fails a load."""
        from modeling.registry_names import IMPORTANCE_CHART_ARTIFACT, MODEL_CARD_ARTIFACT

        ui = mlflow_ui_url(self.settings)
        if ui is None or not run_id:
            return None
        try:
            client = self._mlflow()
            experiment = client.get_run(run_id).info.experiment_id
            # Link only what the run has (versions trained before model cards have none): two listings.
            logged = {a.path for a in client.list_artifacts(run_id)}
            folder = IMPORTANCE_CHART_ARTIFACT.rpartition("/")[0]
            if folder in logged:
                logged |= {a.path for a in client.list_artifacts(run_id, folder)}
        except Exception as exc:
            log.warning("no MLflow links for run %s: %s", run_id, exc)
            return None
        # The UI routes pages after '#'; the server hands out a run's artifacts at /get-artifact. MLflow 3.17
        # opens experiments in its GenAI view unless the URL (or the sidebar switch) asks for model training.
        links = {"run": f"{ui}/#/experiments/{experiment}/runs/{run_id}?{MODEL_TRAINING_VIEW}"}
        artifacts = {"model_card": MODEL_CARD_ARTIFACT, "importance_chart": IMPORTANCE_CHART_ARTIFACT}
        for name, path in artifacts.items():
            if path in logged:
                links[name] = f"{ui}/get-artifact?{urlencode({'path': path, 'run_uuid': run_id})}"
        return links

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


def mlflow_ui_url(settings: Settings) -> str | None:
    """The MLflow UI's base URL for people: BURNOUT_MLFLOW_UI_URL, else the tracking URI when it is a web
    address (a sqlite:// or file store has no UI to link to)."""
    url = settings.mlflow_ui_url or settings.mlflow_tracking_uri
    if not url or not url.startswith(("http://", "https://")):
        return None
    return url.rstrip("/")
