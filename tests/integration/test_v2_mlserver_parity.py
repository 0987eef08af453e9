"""A real Open Inference Protocol client gets the same answers from us as from MLServer (issue 16): 1,000
real TEST records (missing values included) scored by `burnout serve` and by MLServer 1.7.1's scikit-learn
runtime on the same registered pipeline, through tritonclient's HTTP client (JSON tensors) and its gRPC client
(raw tensors), asking for MLServer's output names (`predict`, `predict_proba`).

MLServer runs from its own virtualenv, installed once (about 70 s) under .local/ and reused; the test skips
only when the package index cannot be reached."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from serving_support import fit_like_training, isolated, register_fitted_model

from benchmarks.mlserver import MLServerInstallError, start_champion_mlserver
from benchmarks.servers import start_service, stop_server
from benchmarks.v2_messages import TEXT_INPUT
from burnout_base.settings import Settings
from burnout_dev.processes import free_port
from etl.contract import BY_NAME, CLASSES, FEATURES

pytestmark = pytest.mark.slow
RECORDS = 1000
TOLERANCE = 1e-9
MLSERVER_VENV = Path(__file__).resolve().parents[2] / ".local" / "mlserver-venv"
OUTPUTS = ("predict", "predict_proba")


@pytest.fixture(scope="module")
def served(real_split, mlflow_server, tmp_path_factory):
    """(servers by name, model name, version, the registered pipeline as loaded back): a LightGBM trained on
    the real TRAIN split, registered as champion, served by `burnout serve` and by MLServer."""
    from modeling.model_io import load_model

    home = tmp_path_factory.mktemp("v2-parity-home")
    base = Settings(_env_file=None, home=home, mlflow_tracking_uri=mlflow_server, mlflow_artifact_root=None)
    settings = isolated(base, prediction_log_enabled=False)
    pipeline = fit_like_training("lightgbm", real_split)
    example = real_split.test_raw.head(3)
    version = register_fitted_model(settings, pipeline, "lightgbm", ("champion",), example, "real")
    model = load_model(f"models:/{settings.registered_model_name}/{version}")
    try:
        mlserver = start_champion_mlserver(settings, model, version, home / "mlserver", MLSERVER_VENV)
    except MLServerInstallError as exc:
        if exc.offline:
            pytest.skip(f"MLServer cannot be installed: the package index is unreachable ({exc})")
        raise
    servers = {"mlserver": mlserver}
    try:
        servers["ours"] = start_service(settings, free_port(), free_port(), home / "logs")
        yield servers, settings.registered_model_name, version, model
    finally:
        for server in servers.values():
            stop_server(server)


@pytest.fixture(scope="module")
def records(real_split) -> pd.DataFrame:
    test = real_split.test_raw[list(FEATURES)].iloc[:RECORDS].reset_index(drop=True)
    assert len(test) == RECORDS and 0 < test.isna().any(axis=1).sum() < RECORDS  # some records are incomplete
    return test


def columns(records: pd.DataFrame) -> dict[str, tuple[np.ndarray, str]]:
    """Each feature as the numpy column a V2 client sends, with its datatype: NaN for a missing number (an
    integer column with one goes as FP64)."""
    out = {}
    for name in FEATURES:
        column, kind = records[name], BY_NAME[name].kind
        if kind == "category":
            out[name] = (column.astype(str).to_numpy(dtype=object), "BYTES")
        elif kind == "integer" and not column.isna().any():
            out[name] = (column.to_numpy(dtype=np.int64), "INT64")
        else:
            out[name] = (column.to_numpy(dtype=float), "FP64")
    return out


def infer_grpc(server, model: str, version: int, records: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    try:
        inputs = []
        for name, (array, datatype) in columns(records).items():
            tensor = triton.InferInput(name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array)
            if datatype == "BYTES":
                # MLServer's convention, which tritonclient has no setter for: without it MLServer hands the
                # pipeline `bytes` categories, which its one-hot encoder does not know (other probabilities).
                tensor._get_tensor().parameters["content_type"].string_param = TEXT_INPUT["content_type"]
            inputs.append(tensor)
        outputs = [triton.InferRequestedOutput(name) for name in OUTPUTS]
        answer = client.infer(model, inputs, str(version), outputs=outputs, parameters={"content_type": "pd"})
    finally:
        client.close()
    classes = [c.decode() if isinstance(c, bytes) else str(c) for c in answer.as_numpy("predict").ravel()]
    return classes, answer.as_numpy("predict_proba")


def json_tensor(triton, name: str, array: np.ndarray, datatype: str):
    """tritonclient's JSON tensor, with a missing number as null. tritonclient writes NaN, which is not JSON
    (MLServer parses bodies with orjson, which refuses it), and null is the one missing-value token JSON has;
    its tensor keeps the values in `_data`, which is rewritten here."""
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=False)
    if datatype == "FP64":
        tensor._data = [None if math.isnan(v) else v for v in tensor._data]
    return tensor


def infer_http(server, model: str, version: int, records: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    import tritonclient.http.aio as triton

    async def infer():
        client = triton.InferenceServerClient(server.url.removeprefix("http://"))
        try:
            inputs = [json_tensor(triton, n, a, d) for n, (a, d) in columns(records).items()]
            outputs = [triton.InferRequestedOutput(name, binary_data=False) for name in OUTPUTS]
            return await client.infer(
                model,
                inputs,
                str(version),
                outputs=outputs,
                parameters={"content_type": "pd"},
                # tritonclient's aio client sends no content type, so MLServer (FastAPI) reads the body as a
                # string and refuses it (422); and aiohttp asks for gzip, which that client does not decode in
                # error answers, where MLServer's gzip would hide the message.
                headers={"Content-Type": "application/json", "Accept-Encoding": "identity"},
            )
        finally:
            await client.close()

    answer = asyncio.run(infer())
    return [str(c) for c in answer.as_numpy("predict").ravel()], answer.as_numpy("predict_proba")


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_v2_client_gets_the_same_classes_and_probabilities_from_us_and_mlserver(served, records, protocol):
    servers, model, version, pipeline = served
    infer = infer_http if protocol == "http" else infer_grpc
    answers = {name: infer(server, model, version, records) for name, server in servers.items()}
    # MLServer's sklearn runtime answers `predict_proba` as sklearn does: columns in the model's classes_.
    expected = pipeline.predict_proba(records)
    expected_classes = [str(c) for c in pipeline.predict(records)]
    columns_order = list(pipeline.classes_)
    for name, (classes, probabilities) in answers.items():
        assert classes == expected_classes, name
        assert probabilities.shape == (RECORDS, len(CLASSES)), name
        error = np.abs(probabilities - expected).max()
        assert error <= TOLERANCE, f"{name}: predict_proba off by {error} (columns must be {columns_order})"
    ours, theirs = answers["ours"], answers["mlserver"]
    assert ours[0] == theirs[0]
    assert np.abs(ours[1] - theirs[1]).max() <= TOLERANCE
