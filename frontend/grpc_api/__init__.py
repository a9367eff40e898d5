"""gRPC adapters on the data plane (``inference.GRPCInferenceService`` today; TF Serving's
PredictionService and ModelService next), with OVMS's status-code mapping."""
