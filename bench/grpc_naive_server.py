"""Baseline: the gRPC server a user writes in a few lines, as fast as one process can: grpc.aio,
the request parsed by protobuf, OpenVINO's default compile called in-process
(``compiled_model(x)``, on the event loop), the answer in ``tensor_content`` /
``raw_output_contents``. TF Serving ``Predict`` and KServe ``ModelInfer``, one input, one output,
float32, no validation.

    python bench/grpc_naive_server.py PORT MODEL_XML
"""

import asyncio
import os
import sys

import grpc
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ovserve.frontend.grpc_api.proto import grpc_predict_v2_pb2 as kserve
from ovserve.frontend.grpc_api.proto import tf_serving_pb2 as tfs
from ovserve.frontend.grpc_api.proto import tf_tensor_pb2 as tf


def serve(port: int, model_xml: str) -> None:
    import openvino as ov

    compiled = ov.Core().compile_model(model_xml, "CPU")
    output = compiled.outputs[0]

    async def predict(request: tfs.PredictRequest, context: grpc.aio.ServicerContext) -> tfs.PredictResponse:
        proto = next(iter(request.inputs.values()))
        x = np.frombuffer(proto.tensor_content, np.float32).reshape([d.size for d in proto.tensor_shape.dim])
        y = compiled(x)[output]
        dims = tf.TensorShapeProto(dim=[tf.TensorShapeProto.Dim(size=d) for d in y.shape])
        out = tf.TensorProto(dtype=tf.DT_FLOAT, tensor_shape=dims, tensor_content=y.tobytes())
        return tfs.PredictResponse(outputs={output.any_name: out})

    async def infer(request: kserve.ModelInferRequest, context: grpc.aio.ServicerContext) -> kserve.ModelInferResponse:
        x = np.frombuffer(request.raw_input_contents[0], np.float32).reshape(request.inputs[0].shape)
        y = compiled(x)[output]
        reply = kserve.ModelInferResponse(model_name=request.model_name, raw_output_contents=[y.tobytes()])
        reply.outputs.add(name=output.any_name, datatype="FP32", shape=y.shape)
        return reply

    async def run() -> None:
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", (1 << 30) - 1)])
        handlers = {
            "tensorflow.serving.PredictionService": {
                "Predict": grpc.unary_unary_rpc_method_handler(
                    predict, tfs.PredictRequest.FromString, tfs.PredictResponse.SerializeToString
                )
            },
            "inference.GRPCInferenceService": {
                "ModelInfer": grpc.unary_unary_rpc_method_handler(
                    infer, kserve.ModelInferRequest.FromString, kserve.ModelInferResponse.SerializeToString
                )
            },
        }
        server.add_generic_rpc_handlers(
            tuple(grpc.method_handlers_generic_handler(name, methods) for name, methods in handlers.items())
        )
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    asyncio.run(run())


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
