"""The inference core: owns the loaded models, readiness, metadata and metrics; REST, GraphQL and gRPC
are thin adapters over it.

What it serves is one immutable `Snapshot` (alias -> loaded model). Refreshing builds a new snapshot and swaps
the reference, so a request that already picked its model finishes on it while new requests see the new one.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import anyio
import numpy as np

from burnout_api.core.canary import canary_mask, share_of
from burnout_api.core.errors import ModelUnavailable, NoModelYet, UnknownAlias, error_code
from burnout_api.core.loaded_model import BatchPrediction, LoadedModel
from burnout_api.core.metrics import ServiceMetrics
from burnout_api.core.model_store import ModelStore
from burnout_api.core.poller import Poller
from burnout_api.core.prediction_log_writer import PredictionLogWriter
from burnout_api.core.request_ids import new_request_id
from burnout_api.core.shadow import ShadowScorer
from burnout_api.core.snapshot import (
    CHAMPION,
    Snapshot,
    describe_alias,
    describe_readiness,
    list_aliases,
)
from burnout_api.validation import (
    RecordBatch,
    check_alias,
    check_explain_size,
    parse_records,
    validate_records,
)
from burnout_base.settings import Settings

log = logging.getLogger(__name__)
# A request for an alias we have not seen asks for a refresh at most this often, and waits for it at most
# ALIAS_WAIT_S: past that (MLflow slow or hanging) it is answered from what is known, 404 or 503.
ON_DEMAND_REFRESH_S = 1.0
ALIAS_WAIT_S = 2.0
INLINE_RECORDS, INLINE_BYTES = 32, 16_384
# At stop, the prediction log gets this long to write what is queued: the drain's exit deadline leaves
# EXIT_MARGIN_S (5 s) after the grace, of which the HTTP server may use 1 s to settle cut requests.
LOG_FLUSH_ON_STOP_S = 3.0
SHADOW_DRAIN_ON_STOP_S = 1.0  # shadow answers are evidence, not answers: a second, out of that margin


class InferenceCore:
    """Resolves `models:/<name>@<alias>`, keeps the aliases fresh in the background and scores records."""

    def __init__(
        self,
        settings: Settings,
        store: ModelStore | None = None,
        on_demand_refresh_s: float = ON_DEMAND_REFRESH_S,
    ):
        self.settings = settings
        self.on_demand_refresh_s = on_demand_refresh_s  # tests set 0 rather than wait the second out
        self.store = store or ModelStore(settings)
        self.metrics = ServiceMetrics()
        self.snapshot = Snapshot()
        self._write_lock = threading.Lock()
        self._last_refresh = float("-inf")
        # Counts finished refreshes: requests waiting for "the next one" wait on it.
        self._refreshed = threading.Condition()
        self._generation = 0
        self._load_failures: dict[int, str] = {}  # version -> the error last logged for it
        self._listeners: list[Callable[[bool], None]] = []
        self._poller: Poller | None = None
        self._draining = False
        self.prediction_log: PredictionLogWriter | None = None  # made at start() when enabled
        self.shadow: ShadowScorer | None = None  # made at start() when a shadow alias is set (and the log on)
        # With several workers (burnout_api.workers) each holds its own models: set to tell the others that an
        # operator asked for a refresh, which they then run at once.
        self.announce_refresh: Callable[[], None] | None = None

    # Lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start polling the registry (the first poll runs at once, in the background). Idempotent."""
        if self._poller is None:
            self._poller = Poller(self._poll, self.settings.alias_poll_s)
            self._poller.start()
        if self.settings.prediction_log_enabled:
            if self.prediction_log is None:
                self.prediction_log = PredictionLogWriter.from_settings(self.settings, self.metrics)
            self.prediction_log.start()
            if self.settings.shadow_alias and self.shadow is None:
                self.shadow = ShadowScorer(
                    self.settings.shadow_alias,
                    self.settings.shadow_fraction,
                    self.settings.shadow_queue_rows,
                    self.snapshot_model,
                    self.prediction_log,
                    self.metrics,
                )
            if self.shadow is not None:
                self.shadow.start()
        elif self.settings.shadow_alias:
            log.warning("BURNOUT_SHADOW_ALIAS is set but the prediction log is off: shadow scoring is off")

    def stop(self) -> None:
        """Stop polling and write the queued prediction log (bounded). Safe to call again: a later call
        writes what was answered since (gRPC calls that finished after the HTTP server stopped)."""
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        if self.shadow is not None:  # its answers go to the log: first
            self.shadow.stop(SHADOW_DRAIN_ON_STOP_S)
        if self.prediction_log is not None:
            self.prediction_log.stop(LOG_FLUSH_ON_STOP_S)

    def begin_drain(self) -> None:
        """The process is stopping: report not ready from now on (/ready 503, gRPC health NOT_SERVING), so
        load balancers stop sending, while calls already in flight finish."""
        was_ready = self.is_ready()
        self._draining = True
        if self.prediction_log is not None:  # start writing now rather than at the end of the grace
            self.prediction_log.flush_soon()
        if was_ready:
            for listener in self._listeners:
                listener(False)

    def add_readiness_listener(self, listener: Callable[[bool], None]) -> None:
        """Call `listener(ready)` now and whenever readiness changes (the gRPC health service uses it)."""
        self._listeners.append(listener)
        listener(self.is_ready())

    # Prediction ---------------------------------------------------------------------------------------------
    def predict(
        self,
        records: object,
        alias: str | None = None,
        protocol: str = "rest",
        request_id: str | list[str] | None = None,
        explain: bool = False,
        split_per_request: bool = False,
    ) -> BatchPrediction:
        """Validate and score records (dicts keyed by dataset column names, the JSON text of a list of
        them, or a RecordBatch its adapter checked) with the model behind `alias`; with `explain`, explain
        them too (bounded, see `check_explainable`).

        No alias (None): the champion, except for the canary's share (`core.canary`), split per record, or
        per request with `split_per_request` (V2, whose answer names one version) and when explaining. The
        answer is queued for the prediction log without its explanations, and offered to the shadow model.
        `request_id`: the adapter's (made on arrival), else one is made; a list names each record, the
        stream's way, where every record is a request of its own."""
        started = time.perf_counter()
        asked = CHAMPION if alias is None else alias
        if request_id is None:
            request_id = new_request_id()
        try:
            if isinstance(records, bytes):
                batch = parse_records(records, self.settings.max_batch)
            elif isinstance(records, RecordBatch):  # checked by its adapter (`check_columns`)
                batch = records
            else:
                batch = validate_records(records, self.settings.max_batch)
            model = self.snapshot.models.get(asked) or self.ensure_alias(asked)
            canary = None if alias is not None else self._canary()
            if canary is not None and (explain or split_per_request or len(batch) == 1):
                key = request_id if isinstance(request_id, str) else request_id[0]
                if batch.employee_ids is not None and not (explain or split_per_request):
                    key = batch.employee_ids[0] or key  # one record: split per record, as always
                if share_of(key) < self.settings.canary_percent:
                    asked, model = canary
                canary = None
            if explain:
                self.check_explainable(model, len(batch))
            if canary is None:
                result = model.predict(batch, explain)
            else:
                result = self._predict_split(batch, model, canary, request_id)
        except Exception as exc:
            label = asked if asked in self.snapshot.registry else "<unknown>"
            self.metrics.observe_error(protocol, label, error_code(exc) or "internal")
            raise
        seconds = time.perf_counter() - started
        if result.versions is None:
            self.metrics.observe_success(protocol, asked, result.model.version, len(batch), seconds)
        else:
            for (served, version), count in Counter(
                zip(result.aliases, result.versions, strict=True)
            ).items():
                self.metrics.observe_success(protocol, served, version, count, seconds)
        if self.prediction_log is not None:
            self.prediction_log.append(batch, result, asked, protocol, request_id)
            if self.shadow is not None:
                self.shadow.offer(batch, protocol, request_id, result)
        return result

    def _canary(self) -> tuple[str, LoadedModel] | None:
        """(alias, model) of the canary when one is set, has a share and is loaded; else None."""
        alias = self.settings.canary_alias
        if not alias or self.settings.canary_percent <= 0:
            return None
        model = self.snapshot.models.get(alias)
        return None if model is None else (alias, model)

    def _predict_split(
        self,
        batch: RecordBatch,
        model: LoadedModel,
        canary: tuple[str, LoadedModel],
        request_id: str | list[str],
    ) -> BatchPrediction:
        """Score the canary's share of `batch` with the canary and the rest with `model`, in the batch's
        order; each record names its version and alias."""
        mask = canary_mask(len(batch), self.settings.canary_percent, request_id, batch.employee_ids)
        if not mask.any():
            return model.predict(batch)
        canary_alias, canary_model = canary
        if mask.all():
            whole = canary_model.predict(batch)
            return replace(
                whole, versions=[whole.model.version] * len(batch), aliases=[canary_alias] * len(batch)
            )
        main, side = model.predict(batch.select(~mask)), canary_model.predict(batch.select(mask))
        labels = np.empty(len(batch), dtype=object)
        labels[~mask], labels[mask] = main.labels, side.labels
        probabilities = np.empty((len(batch), main.probabilities.shape[1]))
        probabilities[~mask], probabilities[mask] = main.probabilities, side.probabilities
        versions = np.where(mask, side.model.version, main.model.version).tolist()
        aliases = np.where(mask, canary_alias, CHAMPION).tolist()
        return BatchPrediction(main.model, labels.tolist(), probabilities, versions=versions, aliases=aliases)

    async def predict_async(
        self,
        records: object,
        alias: str | None = None,
        protocol: str = "rest",
        request_id: str | None = None,
        explain: bool = False,
        split_per_request: bool = False,
    ) -> BatchPrediction:
        """`predict` from an event loop: inline when it is quick, in a worker thread when it may load a model,
        score a large batch or explain (a thread hop costs more than scoring one record, far less than
        explaining one with a non-tree model)."""
        size = len(records) if isinstance(records, (list, bytes, RecordBatch)) else 0
        limit = INLINE_BYTES if isinstance(records, bytes) else INLINE_RECORDS
        if not explain and self.is_loaded(CHAMPION if alias is None else alias) and size <= limit:
            return self.predict(records, alias, protocol, request_id, False, split_per_request)
        return await anyio.to_thread.run_sync(
            self.predict, records, alias, protocol, request_id, explain, split_per_request
        )

    def check_explainable(self, model: LoadedModel, count: int) -> None:
        """Refuse explanations before any work: of a model without an explainer, and of more records than its
        method's limit (an approximate explanation costs about a thousand times an exact one)."""
        explainer = model.require_explainer()
        if explainer.exact:
            limit, setting = self.settings.explain_max_records, "BURNOUT_EXPLAIN_MAX_RECORDS"
        else:
            limit = self.settings.explain_max_records_approximate
            setting = "BURNOUT_EXPLAIN_MAX_RECORDS_APPROXIMATE"
        check_explain_size(count, limit, explainer.method, setting)

    def is_loaded(self, alias: str) -> bool:
        return alias in self.snapshot.models

    def snapshot_model(self, alias: str) -> LoadedModel | None:
        """The model serving `alias` now, if loaded (never loads: the shadow must not wait for MLflow)."""
        return self.snapshot.models.get(alias)

    def ensure_alias(self, alias: str) -> LoadedModel:
        """The model behind `alias`, loading it if needed (blocking: call it off the event loop)."""
        model = self.snapshot.models.get(alias)
        if model is not None:
            return model
        check_alias(alias)
        self._await_fresh_registry()
        snapshot = self.snapshot
        if alias in snapshot.models:
            return snapshot.models[alias]
        if alias in snapshot.registry or snapshot.mlflow != "reachable":
            raise ModelUnavailable(
                f"the model behind alias {alias!r} is not loaded: "
                f"{snapshot.last_error or 'the registry has not answered yet'}"
            )
        if alias == CHAMPION:
            raise NoModelYet(self.store.name, alias)
        raise UnknownAlias(self.store.name, alias, sorted(snapshot.registry))

    # Refreshing --------------------------------------------------------------------------------------------
    def _await_fresh_registry(self) -> None:
        """Single flight: ask the poller for a refresh (unless one began within `on_demand_refresh_s`) and
        wait for the next one to finish, at most ALIAS_WAIT_S. However many requests ask at once, the
        registry is read once; none waits longer than that, even when MLflow hangs."""
        if time.monotonic() - self._last_refresh < self.on_demand_refresh_s:
            return
        if self._poller is None:  # not started (a script or a test): nobody else would refresh
            self.refresh()
            return
        with self._refreshed:
            seen = self._generation
        self._poller.poke()
        with self._refreshed:
            self._refreshed.wait_for(lambda: self._generation > seen, timeout=ALIAS_WAIT_S)

    def refresh(self) -> Snapshot:
        """Read the aliases and serve each one, the champion first, publishing each newly loaded version at
        once; an alias whose new version fails to load stays on its previous one (the error lands in the
        snapshot)."""
        try:
            with self._write_lock:
                snapshot, loaded = self._refresh_locked()
        finally:
            with self._refreshed:
                self._generation += 1
                self._refreshed.notify_all()
        if loaded:
            _settle_heap()
        return snapshot

    def refresh_everywhere(self) -> Snapshot:
        """`refresh()` here, then ask the service's other workers to refresh too (POST /reload, the alias
        routes): a request reaches one worker, and each worker serves its own copy of the models. This one
        answers once its own refresh is done; the others follow within their own load time."""
        snapshot = self.refresh()
        if self.announce_refresh is not None:
            self.announce_refresh()
        return snapshot

    def wait_first_refresh(self) -> None:
        """Block until the first registry read is over (what it names loaded, or the reason it was not)."""
        with self._refreshed:
            self._refreshed.wait_for(lambda: self._generation > 0)

    def refresh_soon(self) -> None:
        """Have the poller refresh now (another worker announced a refresh); a no-op before start()."""
        if self._poller is not None:
            self._poller.poke()

    def _refresh_locked(self) -> tuple[Snapshot, bool]:
        self._last_refresh = time.monotonic()
        old, now = self.snapshot, datetime.now(UTC)
        try:
            registry = self.store.fetch_aliases()
        except Exception as exc:
            # Logged when it starts failing, not at every poll; clients read a sentence without internals.
            if old.mlflow != "unreachable":
                log.warning("MLflow unreachable, serving what is loaded: %s", _describe(exc))
            unreachable = Snapshot(old.models, old.registry, "unreachable", "MLflow is unreachable", now)
            return self._publish(unreachable), False
        models = {alias: model for alias, model in old.models.items() if alias in registry}
        errors: dict[int, str] = {}  # version -> why it failed: two aliases on one version try it once
        loaded = False
        for alias in sorted(registry, key=lambda a: (a != CHAMPION, a)):
            version = registry[alias]
            if alias in models and models[alias].metadata.version == version:
                continue
            if version not in errors:
                try:
                    models[alias] = self._model_for(version, models)
                except Exception as exc:
                    errors[version] = f"version {version} could not be loaded (the service log says why)"
                    self._log_load_failure(version, exc)
                    continue
                loaded = True
                self._load_failures.pop(version, None)
                self._publish(Snapshot(dict(models), registry, "reachable", old.last_error, now))
        last_error = "; ".join(errors.values()) or None
        return self._publish(Snapshot(models, registry, "reachable", last_error, now)), loaded

    def _log_load_failure(self, version: int, exc: Exception) -> None:
        """A traceback the first time a version fails this way, one line at each later poll."""
        described = _describe(exc)
        if self._load_failures.get(version) == described:
            log.warning("version %s still cannot be loaded: %s", version, described)
        else:
            log.error("could not load version %s", version, exc_info=exc)
        self._load_failures[version] = described

    def _model_for(self, version: int, models: dict[str, LoadedModel]) -> LoadedModel:
        """Reuse a loaded version (two aliases often share one) or load it."""
        for model in models.values():
            if model.metadata.version == version:
                return model
        return self.store.load_version(version)

    def _publish(self, snapshot: Snapshot) -> Snapshot:
        was_ready, previous = self.is_ready(), self.snapshot.models
        self.snapshot = snapshot
        for alias, model in snapshot.models.items():
            if alias not in previous or previous[alias] is not model:
                log.info("alias %s now serves version %s", alias, model.metadata.version)
        self.metrics.set_models(
            {a: (m.metadata.version, m.metadata.family) for a, m in snapshot.models.items()}
        )
        self.metrics.set_mlflow_reachable(snapshot.mlflow == "reachable")
        if self.is_ready() != was_ready:
            for listener in self._listeners:
                listener(self.is_ready())
        return snapshot

    def _poll(self) -> bool:
        snapshot = self.refresh()
        return snapshot.mlflow == "reachable" and snapshot.last_error is None

    # Introspection -----------------------------------------------------------------------------------------
    def is_ready(self) -> bool:
        return not self._draining and CHAMPION in self.snapshot.models

    def is_model_ready(self, alias: str) -> bool:
        """V2's model readiness: loaded, and the process is not draining (a balancer should stop sending)."""
        return not self._draining and self.is_loaded(alias)

    def readiness(self) -> dict:
        """Whether a champion is served, and why not; the body of /ready."""
        return describe_readiness(self.snapshot, draining=self._draining)

    def list_models(self) -> list[dict]:
        """Every alias of the registered model (as last read) with the metadata of those loaded."""
        snapshot = self.snapshot
        return [describe_alias(alias, snapshot) for alias in list_aliases(snapshot)]

    def describe_model(self, alias: str) -> dict:
        """Metadata of the model behind `alias`, loading it if needed (blocking)."""
        self.ensure_alias(alias)
        return describe_alias(alias, self.snapshot)


def _settle_heap() -> None:
    """Collect what the swap left behind, then move every live object (libraries, loaded models) out of the
    garbage collector's sight: a full collection over them took 250 ms here, a stall for every request in
    flight whenever allocation triggered one."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}"
