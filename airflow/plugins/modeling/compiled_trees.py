"""A LightGBM model's trees compiled to native code with lleaves (LLVM via llvmlite), cached on local disk.

Why lleaves, measured on a champion-sized model (555 trees, 3 classes, the real dataset), 1,000 preprocessed
rows on one thread of a shared 2-core machine: lleaves 4.2 ms, LightGBM 27 ms, tl2cgen 24 ms (C through gcc,
which the slim image lacks, compiled in 90 s); an earlier, quieter run: lleaves 2.3 ms against LightGBM's
10.7 ms and ONNX Runtime's 10.3 ms. lleaves and tl2cgen give LightGBM's float64 probabilities (within 1e-15);
ONNX Runtime differed by 2.5e-7 (float32 thresholds). lleaves' default options are kept: `finline=False`
compiled in 12 s instead of 26 s but predicted in twice the time, `fcodemodel="small"` (62 s, 8 ms) and
`fblocksize=<all trees>` (364 s, 20 ms) lose on both. LLVM's JIT links the code in the process: no compiler or
linker is needed at run time.

Compiling takes tens of seconds (26 to 74 s for that model, depending on the machine's load), so it runs in a
child process at a low priority: the service's threads never wait for the GIL behind LLVM's IR building, and a
crash in LLVM costs a warning, not the service. Its object code is cached in `cache_dir` (never the artifact
store), named by the version and a digest of the model's text, lleaves' and llvmlite's versions, the CPU and
the options, so a restart or a second worker loads it in milliseconds; a file lock makes one process compile
while the others wait for its file, and the file appears whole (written aside, then renamed) or not at all.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from importlib.metadata import version as installed_version
from pathlib import Path

import numpy as np

from modeling.fast_path import batch_threads

log = logging.getLogger(__name__)
COMPILE_OPTIONS = {"fblocksize": 34, "finline": True, "fcodemodel": "large"}  # lleaves' defaults (see above)
COMPILE_TIMEOUT_S = 1800.0
# Each thread predicts at least this many rows (1,000 take 2 to 4 ms on one): the service runs a process per
# core, so a thread more takes another worker's core; only a large batch is split over this process's CPUs,
# to bound its latency (10,000 rows on this shared 2-core machine: 33 to 36 ms on two threads, 33 to 41 ms
# on one, as the neighbours' load varied).
_ROWS_PER_THREAD = 2_000
# One compile at a time in a process: champion, challenger and shadow loaded together would otherwise compile
# at once on the same cores that answer requests.
_ONE_COMPILE_AT_A_TIME = threading.Lock()


class CompiledTrees:
    """A compiled LightGBM model: probabilities in the booster's class order, as `Booster.predict` gives."""

    def __init__(self, model, path: Path):
        self._model = model  # a compiled lleaves.Model: it keeps the loaded native code alive
        self.path = path

    @property
    def features(self) -> int:
        return self._model.num_feature()

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        """Probabilities for a float64 matrix of preprocessed rows."""
        threads = max(1, min(batch_threads(), matrix.shape[0] // _ROWS_PER_THREAD))
        result = self._model.predict(matrix, n_jobs=threads)
        return result if result.ndim == 2 else np.column_stack((1.0 - result, result))


def lightgbm_booster(pipeline):
    """The LightGBM booster of a fitted Pipeline(preprocessor, LGBMClassifier), or None for other families."""
    estimator = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else None
    return estimator.booster_ if type(estimator).__name__ == "LGBMClassifier" else None


def cached_path(cache_dir: Path, version: int, model_text: str) -> Path:
    """Where the compiled form of this model text is cached on this machine."""
    key = {
        "model_sha256": hashlib.sha256(model_text.encode()).hexdigest(),
        "lleaves": installed_version("lleaves"),
        "llvmlite": installed_version("llvmlite"),
        "cpu": describe_cpu(),
        "options": COMPILE_OPTIONS,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir / f"version-{version}-{digest}.o"


def describe_cpu() -> dict[str, str]:
    """What LLVM compiles for: the host CPU's name and features (code for one CPU may crash on another)."""
    import llvmlite.binding as llvm

    llvm.initialize()
    llvm.initialize_native_target()
    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # LLVM cannot read them on some CPUs; lleaves compiles without them then
        features = ""
    return {"name": llvm.get_host_cpu_name(), "features": features}


def load_compiled_trees(model_text: str, cache_dir: Path, version: int) -> CompiledTrees:
    """The compiled form of a LightGBM model (`Booster.model_to_string()`): from the cache, or compiled in a
    child process first. Blocks for as long as compiling takes: call it from a background thread."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cached_path(cache_dir, version, model_text)
    from filelock import FileLock

    with _ONE_COMPILE_AT_A_TIME, FileLock(f"{path}.lock"):
        if path.exists():
            log.info("compiled trees of version %s found in the cache (%s)", version, path.name)
        else:
            _compile_in_child(model_text, path)
    return _load(model_text, path)


def _compile_in_child(model_text: str, path: Path) -> None:
    # The work folder sits in the cache folder: the child's object file is renamed into place, never copied.
    with tempfile.TemporaryDirectory(dir=path.parent) as work:
        model_file = Path(work) / "model.txt"
        model_file.write_text(model_text)
        log.info("compiling the trees of %s in a child process", path.name)
        command = [sys.executable, "-m", "modeling.compiled_trees", str(model_file), str(path)]
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # A process ending normally meanwhile stops its compiler; a service worker, which skips the
        # interpreter's teardown, leaves it to finish: it only fills the cache, niced, and then exits.
        atexit.register(child.kill)
        try:
            _, errors = child.communicate(timeout=COMPILE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise RuntimeError(f"compiling took over {COMPILE_TIMEOUT_S:.0f} s: stopped") from None
        finally:
            atexit.unregister(child.kill)
    if child.returncode != 0:
        raise RuntimeError(f"compiling failed (exit {child.returncode}): {errors.strip()[-2000:]}")


def _load(model_text: str, path: Path) -> CompiledTrees:
    import lleaves

    # lleaves reads the model's shape from a file; the native code itself comes from the cache.
    with tempfile.NamedTemporaryFile("w", suffix=".txt", dir=path.parent) as model_file:
        model_file.write(model_text)
        model_file.flush()
        model = lleaves.Model(model_file=model_file.name)
        model.compile(cache=str(path), **COMPILE_OPTIONS)
    return CompiledTrees(model, path)


def compile_to_cache(model_file: Path, path: Path) -> None:
    """Compile a LightGBM model file and put its object code at `path`, whole or not at all (written beside
    the model file, in the same file system as `path`, then renamed)."""
    import lleaves

    partial = model_file.with_name(f"{path.name}.partial")
    lleaves.Model(model_file=str(model_file)).compile(cache=str(partial), **COMPILE_OPTIONS)
    os.replace(partial, path)


if __name__ == "__main__":  # the child process of `_compile_in_child`: python -m modeling.compiled_trees
    os.nice(10)  # behind the requests the parent process answers
    compile_to_cache(Path(sys.argv[1]), Path(sys.argv[2]))
