#!/usr/bin/env bash
# Regenerates the Python modules of the .proto files here (grpcio-tools, a dev extra); run from
# anywhere. The generated *_pb2*.py files are committed, so serving needs only grpcio/protobuf.
# Service stubs (*_pb2_grpc.py) only for the files that declare services.
set -euo pipefail
cd "$(dirname "$0")/../../.."
dir=frontend/grpc_api/proto
python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. "$dir"/*.proto
python -m grpc_tools.protoc -I . --grpc_python_out=. "$dir"/grpc_predict_v2.proto "$dir"/tf_serving.proto
# the package is installed as ovserve.frontend (pyproject's package-dir): import it by that name
sed -i -E 's/^from frontend\.grpc_api\.proto import/from ovserve.frontend.grpc_api.proto import/' "$dir"/*_pb2*.py
