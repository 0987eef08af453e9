"""gRPC adapter over the inference core: BurnoutRisk, the standard health service and server reflection."""
