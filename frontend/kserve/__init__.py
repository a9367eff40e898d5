"""KServe v2 (Open Inference Protocol) over REST (``rest_*``) and gRPC (``grpc_service``), as OVMS serves it."""
