"""The Open Inference Protocol (V2): REST under /v2 and gRPC `inference.GRPCInferenceService`."""
