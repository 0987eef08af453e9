"""One registered model version, loaded: its metadata, its pipeline, its fast path and its explainer when
they apply, and for LightGBM its trees compiled to native code once they are ready (see
`modeling.compiled_trees`)."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from burnout_api.core.errors import ExplanationUnavailable
from burnout_api.validation import RecordBatch
from etl.contract import CLASSES
from modeling.compiled_trees import CompiledTrees, lightgbm_booster, load_compiled_trees
from modeling.explain import Explainer, Explanations, build_explainer
from modeling.scoring import Scorer

log = logging.getLogger(__name__)
Background = tuple[np.ndarray, list[tuple[str, ...]]]


@dataclass(frozen=True)
class ModelMetadata:
    """What the registry and the training run say about a version; `loaded_at`: when we loaded it; `links`:
    its run page, model card and importance chart in the MLflow UI (None without a UI to link to);
    `compiled`: its compiled trees answer (a LightGBM version, once they are ready and checked)."""

    version: int
    family: str | None
    run_id: str | None
    dataset_version: str | None
    test_metrics: dict[str, float]
    loaded_at: datetime
    fast_path: bool = False
    compiled: bool = False
    explainer: dict | None = None  # {method, exact, scale}; None: the version cannot explain its answers
    links: dict[str, str] | None = None
    model_classes: tuple[str, ...] = CLASSES  # the estimator's own class order (its predict_proba columns)

    def as_dict(self) -> dict:
        return {
            "version": self.version,
            "family": self.family,
            "run_id": self.run_id,
            "dataset_version": self.dataset_version,
            "test_metrics": self.test_metrics,
            "loaded_at": self.loaded_at.isoformat(),
            "fast_path": self.fast_path,
            "compiled": self.compiled,
            "explainer": self.explainer,
            "links": self.links,
        }


@dataclass(frozen=True)
class BatchPrediction:
    """Per record: the class and the probabilities of `CLASSES`, in that order; `model` answered them (all,
    or those the canary did not: see `versions`). With explanations: `explanations` and the `records` they
    explain (the top factors quote their values)."""

    model: ModelMetadata
    labels: list[str]
    probabilities: np.ndarray = field(repr=False)
    explanations: Explanations | None = field(default=None, repr=False)
    records: RecordBatch | None = field(default=None, repr=False)
    # Set when a canary served some of the records (see `core.canary`): each record's version and alias;
    # None: `model` answered them all.
    versions: list[int] | None = None
    aliases: list[str] | None = None

    def version_of(self, index: int) -> int:
        return self.model.version if self.versions is None else self.versions[index]


class LoadedModel:
    """A fitted Pipeline(preprocessor, estimator) ready to score `RecordBatch`es (see `modeling.scoring`) and,
    when it has an explainer, to explain them (see `modeling.explain`)."""

    def __init__(
        self,
        pipeline,
        metadata: ModelMetadata,
        use_fast_path: bool = True,
        load_background: Callable[[], Background | None] | None = None,
    ):
        self.pipeline = pipeline
        self.scorer = Scorer(pipeline, use_fast_path)
        self.explainer = self._build_explainer(load_background)
        described = None
        if self.explainer is not None:
            described = {
                "method": self.explainer.method,
                "exact": self.explainer.exact,
                "scale": self.explainer.scale,
            }
        self.metadata = replace(
            metadata,
            fast_path=self.fast is not None,
            explainer=described,
            model_classes=tuple(self.scorer.labels),
        )

    @property
    def fast(self):
        """The fast path scoring now (its predictor becomes the compiled trees when they are swapped in)."""
        return self.scorer.fast

    def compile_trees_in_background(self, cache_dir: Path) -> threading.Thread | None:
        """Start compiling a LightGBM version's trees in a daemon thread (see `modeling.compiled_trees`); the
        version answers through LightGBM until they are ready and agree with the pipeline on the probe
        records, then through them, and `metadata.compiled` says so. A failure logs a warning and keeps
        LightGBM. The thread holds the model only weakly: a version unloaded meanwhile (hot reload) is freed,
        and its compiled trees are only cached for later. Returns the thread, None when nothing compiles."""
        booster = lightgbm_booster(self.pipeline)
        if booster is None or self.fast is None:  # the compiled trees take the fast path's matrix
            return None
        version = self.metadata.version
        thread = threading.Thread(
            target=_compile_and_swap,
            args=(weakref.ref(self), booster.model_to_string(), cache_dir, version),
            name=f"compile-trees-v{version}",
            daemon=True,  # never holds the process's exit: the cache gets whole files or none
        )
        thread.start()
        return thread

    def use_compiled_trees(self, compiled: CompiledTrees) -> bool:
        """Answer through `compiled` from now on if it gives the pipeline's probabilities (see
        `Scorer.swap_predictor`); explanations keep LightGBM's own `pred_contrib`."""
        if compiled.features != self.fast.width or not self.scorer.swap_predictor(
            compiled.predict_proba, "compiled trees"
        ):
            return False
        self.metadata = replace(self.metadata, compiled=True)
        return True

    def predict(self, batch: RecordBatch, explain: bool = False) -> BatchPrediction:
        """Score a batch on the fast path when the model has one, else through its pipeline; with `explain`,
        explain it too (ExplanationUnavailable when the model has no explainer)."""
        explainer = self.require_explainer() if explain else None
        labels, probabilities = self.scorer.predict(batch.numeric, batch.categorical)
        if explainer is None:
            return BatchPrediction(self.metadata, labels, probabilities)
        explanations = explainer.explain(batch.numeric, batch.categorical)
        return BatchPrediction(self.metadata, labels, probabilities, explanations, batch)

    def require_explainer(self) -> Explainer:
        """The explainer; ExplanationUnavailable when the model has none."""
        if self.explainer is None:
            raise ExplanationUnavailable(self.metadata.version, self.metadata.family)
        return self.explainer

    def predict_model_proba(self, batch: RecordBatch) -> np.ndarray:
        """Probabilities in the model's own class order, as `pipeline.predict_proba` would give them."""
        return self.scorer.predict_model_proba(batch.numeric, batch.categorical)

    def _build_explainer(self, load_background: Callable[[], Background | None] | None) -> Explainer | None:
        """The model's explainer, or None: a model that cannot explain still predicts. A tree model explains
        without a background sample, so the sample is fetched only for the others."""
        try:
            explainer = build_explainer(self.pipeline, None, self.fast)
            if explainer is None and load_background is not None:
                background = load_background()
                if background is not None:
                    explainer = build_explainer(self.pipeline, background, self.fast)
        except Exception:
            log.warning("no explainer for this model: building it failed", exc_info=True)
            return None
        return explainer


def _compile_and_swap(ref: weakref.ref[LoadedModel], model_text: str, cache_dir: Path, version: int) -> None:
    try:
        compiled = load_compiled_trees(model_text, cache_dir, version)
        loaded = ref()
        if loaded is None:
            log.info("version %s was unloaded before its compiled trees were ready (now cached)", version)
        elif loaded.use_compiled_trees(compiled):
            log.info("version %s now answers through its compiled trees (%s)", version, compiled.path.name)
        else:
            log.warning("version %s answers through LightGBM: its compiled trees disagree with it", version)
    except Exception as exc:  # a thread's exception would only reach stderr: the warning says what it costs
        log.warning("version %s answers through LightGBM: compiling its trees failed: %s", version, exc)
