"""TensorFlow Serving's API over REST (``rest_*``) and gRPC (``grpc_service``), as OVMS serves it."""
