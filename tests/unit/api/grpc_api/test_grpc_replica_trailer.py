"""Every BurnoutRisk and Open Inference Protocol answer names the replica in its trailing metadata
(`burnout-replica`), errors included, unless BURNOUT_REPLICA_HEADER is off; and V2's readiness turns false
while the process drains."""

from __future__ import annotations

import grpc
import pytest
from tritonclient.grpc import service_pb2 as v2
from tritonclient.grpc import service_pb2_grpc as v2_grpc

from burnout_api.core import InferenceCore
from burnout_api.features import FEATURE_FIELDS
from burnout_api.grpc_api.server import start_grpc_server
from burnout_api.grpc_gen import burnout_pb2 as pb
from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc
from burnout_api.schemas import EXAMPLE_RECORD

TRAILER = ("burnout-replica", "api-7f3c")


@pytest.fixture
def serve(make_settings, make_store, lightgbm_pipeline):
    """serve(**settings) -> (core, channel) with a gRPC server on a free port."""
    started = []

    def start(**overrides):
        core = InferenceCore(
            make_settings(**overrides), store=make_store({1: lightgbm_pipeline}, {"champion": 1})
        )
        core.refresh()
        server, port = start_grpc_server(core, "127.0.0.1", 0)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        started.append((server, channel))
        return core, channel

    yield start
    for server, channel in started:
        channel.close()
        server.stop(0)


def employee() -> pb.Employee:
    return pb.Employee(**{f.key: EXAMPLE_RECORD[f.name] for f in FEATURE_FIELDS if f.name in EXAMPLE_RECORD})


def test_every_answer_carries_the_replica_trailer(serve):
    _, channel = serve(replica_name="api-7f3c")
    stub, v2_stub = pb_grpc.BurnoutRiskStub(channel), v2_grpc.GRPCInferenceServiceStub(channel)

    _, call = stub.Predict.with_call(pb.PredictRequest(records=[employee()]))
    assert TRAILER in call.trailing_metadata()
    with pytest.raises(grpc.RpcError) as refused:
        stub.Predict(pb.PredictRequest(records=[employee()], model="no-such-alias"))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND and TRAILER in refused.value.trailing_metadata()
    stream = stub.PredictStream(iter([pb.PredictRequest(records=[employee()])] * 2))
    assert len(list(stream)) == 2 and TRAILER in stream.trailing_metadata()
    _, call = stub.ListModels.with_call(pb.ListModelsRequest())
    assert TRAILER in call.trailing_metadata()
    _, call = v2_stub.ServerLive.with_call(v2.ServerLiveRequest())
    assert TRAILER in call.trailing_metadata()
    with pytest.raises(grpc.RpcError) as refused:
        v2_stub.ModelInfer(v2.ModelInferRequest(model_name="burnout-risk"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert TRAILER in refused.value.trailing_metadata()


def test_the_trailer_can_be_switched_off(serve):
    _, channel = serve(replica_name="api-7f3c", replica_header=False)
    _, call = pb_grpc.BurnoutRiskStub(channel).Predict.with_call(pb.PredictRequest(records=[employee()]))
    assert all(key != "burnout-replica" for key, _ in call.trailing_metadata())


def test_v2_readiness_turns_false_when_the_drain_begins(serve):
    core, channel = serve()
    v2_stub = v2_grpc.GRPCInferenceServiceStub(channel)
    model = v2.ModelReadyRequest(name="burnout-risk")
    assert v2_stub.ServerReady(v2.ServerReadyRequest()).ready and v2_stub.ModelReady(model).ready

    core.begin_drain()

    assert not v2_stub.ServerReady(v2.ServerReadyRequest()).ready and not v2_stub.ModelReady(model).ready
    assert v2_stub.ServerLive(v2.ServerLiveRequest()).live  # still answering meanwhile
