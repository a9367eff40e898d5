#!/usr/bin/env bash
# Regenerates the Python modules of the .proto files here (grpcio-tools, a dev extra); run from
# anywhere. The generated *_pb2*.py files are committed, so serving needs only grpcio/protobuf.
set -euo pipefail
cd "$(dirname "$0")/../../.."
python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. frontend/grpc_api/proto/*.proto
