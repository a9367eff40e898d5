"""Small OpenVINO models built with the Python API (no downloads), for tests and bench.

Run as a script to (re)write the bundled default model: ``python -m tests.modelgen``.
"""

from __future__ import annotations

import os
import sys

import numpy as np


def _save(model: object, base: str, version: int = 1, name: str = "model") -> str:
    import openvino as ov

    folder = os.path.join(base, str(version))
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.xml")
    ov.save_model(model, path, compress_to_fp16=False)
    return folder


def dummy(base: str, version: int = 1, batch: int | None = 1, width: int = 10, add: float = 1.0) -> str:
    """``b`` f32 [batch, width] -> ``a`` = b + add (batch None: dynamic)."""
    import openvino as ov
    import openvino.opset13 as ops

    b = ops.parameter([batch if batch is not None else -1, width], ov.Type.f32, name="b")
    b.output(0).get_tensor().set_names({"b"})
    out = ops.add(b, ops.constant(np.full((1, width), add, np.float32)))
    out.output(0).get_tensor().set_names({"a"})
    return _save(ov.Model([out], [b], "dummy"), base, version)


def mlp(base: str, version: int = 1, width: int = 1024, layers: int = 4, classes: int = 10) -> str:
    """``x`` f32 [-1, width] -> ``y`` [-1, classes]: ``layers`` dense ReLU layers of ``width``, then
    a dense layer; a model whose inference, not the front, costs the most per request."""
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    x = ops.parameter([-1, width], ov.Type.f32, name="x")
    x.output(0).get_tensor().set_names({"x"})
    h = x
    for _ in range(layers):
        w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
        h = ops.relu(ops.matmul(h, ops.constant(w), False, False))
    w = (rng.standard_normal((width, classes)) / np.sqrt(width)).astype(np.float32)
    y = ops.matmul(h, ops.constant(w), False, False)
    y.output(0).get_tensor().set_names({"y"})
    return _save(ov.Model([y], [x], "mlp"), base, version)


def tile3(base: str, version: int = 1) -> str:
    """``x`` f32 [1,10] -> ``t`` [3,1,10] = (x, x+10, x+20): a demultiplexer's source."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 10], ov.Type.f32, name="x")
    x.output(0).get_tensor().set_names({"x"})
    parts = [ops.unsqueeze(ops.add(x, ops.constant(np.float32(10 * k))), ops.constant(np.int64(0))) for k in range(3)]
    t = ops.concat(parts, 0)
    t.output(0).get_tensor().set_names({"t"})
    return _save(ov.Model([t], [x], "tile3"), base, version)


def sum3(base: str, version: int = 1) -> str:
    """``s`` f32 [3,1,10] -> ``total`` [1,10]: the sum over dim 0 (a gathering node)."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([3, 1, 10], ov.Type.f32, name="s")
    x.output(0).get_tensor().set_names({"s"})
    y = ops.reduce_sum(x, ops.constant(np.array([0], np.int64)), keep_dims=False)
    y.output(0).get_tensor().set_names({"total"})
    return _save(ov.Model([y], [x], "sum3"), base, version)


def reduce_max(base: str, version: int = 1, width: int = 10) -> str:
    """``x`` f32 [-1, width] -> ``m`` [1, 1] = its largest element: a large input, a tiny answer."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([-1, width], ov.Type.f32, name="x")
    x.output(0).get_tensor().set_names({"x"})
    out = ops.reduce_max(x, ops.constant(np.array([0, 1], np.int64)), keep_dims=True)
    out.output(0).get_tensor().set_names({"m"})
    return _save(ov.Model([out], [x], "reduce_max"), base, version)


def typed(base: str, element: str, version: int = 1) -> str:
    """``x`` [1,4] of ``element`` -> ``y`` = x + x (``not x`` for boolean), same type."""
    import openvino as ov
    import openvino.opset13 as ops
    from ovserve.shared.signature import numpy_dtype

    t = ov.Type(numpy_dtype(element))
    x = ops.parameter([1, 4], t, name="x")
    x.output(0).get_tensor().set_names({"x"})
    y = ops.logical_not(x) if element == "boolean" else ops.add(x, x)
    y.output(0).get_tensor().set_names({"y"})
    return _save(ov.Model([y], [x], "typed"), base, version)


def image(base: str, shape: list[int], element: str = "f32", version: int = 1, layout: str = "") -> str:
    """``image`` of ``shape`` (NHWC; -1 for dynamic dims) -> ``copy`` = image * 1, same type: the
    tensor the server made from the encoded images, as it reached the model."""
    import openvino as ov
    import openvino.opset13 as ops
    from ovserve.shared.signature import numpy_dtype

    t = ov.Type(numpy_dtype(element))
    x = ops.parameter(shape, t, name="image")
    x.output(0).get_tensor().set_names({"image"})
    if layout:
        x.set_layout(ov.Layout(layout))
    y = ops.multiply(x, ops.constant(np.ones([1] * len(shape), numpy_dtype(element))))
    y.output(0).get_tensor().set_names({"copy"})
    return _save(ov.Model([y], [x], "image"), base, version)


def strings2d(base: str, version: int = 1) -> str:
    """``text`` u8 [-1, -1] -> ``text_string`` = text, same type (a "2D string" model; OVMS
    turns outputs whose name ends in ``_string`` back into strings)."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([-1, -1], ov.Type.u8, name="text")
    x.output(0).get_tensor().set_names({"text"})
    y = ops.multiply(x, ops.constant(np.ones([1, 1], np.uint8)))
    y.output(0).get_tensor().set_names({"text_string"})
    return _save(ov.Model([y], [x], "strings2d"), base, version)


def strings(base: str, shape: list[int] | None = None, version: int = 1, name: str = "text") -> str:
    """A STRING input ``name`` of ``shape`` (default [-1]) returned as it is (output ``name``;
    the only string op OpenVINO's CPU plugin runs without extensions is passing one through)."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter(shape or [-1], ov.Type.string, name=name)
    x.output(0).get_tensor().set_names({name})
    return _save(ov.Model([ops.result(x)], [x], "strings"), base, version)


def two_in_two_out(base: str, version: int = 1) -> str:
    """``a`` f32 [-1,3] and ``b`` i32 [-1,2] -> ``sum`` = a*2 (f32), ``neg`` = -b (i32)."""
    import openvino as ov
    import openvino.opset13 as ops

    a = ops.parameter([-1, 3], ov.Type.f32, name="a")
    a.output(0).get_tensor().set_names({"a"})
    b = ops.parameter([-1, 2], ov.Type.i32, name="b")
    b.output(0).get_tensor().set_names({"b"})
    s = ops.multiply(a, ops.constant(np.float32(2)))
    s.output(0).get_tensor().set_names({"sum"})
    n = ops.negative(b)
    n.output(0).get_tensor().set_names({"neg"})
    return _save(ov.Model([s, n], [a, b], "two"), base, version)


def scalar(base: str, version: int = 1) -> str:
    """``s`` f32 [] -> ``t`` = s * 3 (rank-0 tensors)."""
    import openvino as ov
    import openvino.opset13 as ops

    s = ops.parameter([], ov.Type.f32, name="s")
    s.output(0).get_tensor().set_names({"s"})
    t = ops.multiply(s, ops.constant(np.float32(3)))
    t.output(0).get_tensor().set_names({"t"})
    return _save(ov.Model([t], [s], "scalar"), base, version)


def slow(base: str, version: int = 1, layers: int = 20) -> str:
    """``x`` f32 [1,4] -> ``y`` = x + 1 and ``z``: a conv stack on a broadcast of x that takes
    tens of milliseconds (for overload, deadline and shutdown tests)."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 4], ov.Type.f32, name="x")
    x.output(0).get_tensor().set_names({"x"})
    y = ops.add(x, ops.constant(np.ones((1, 4), np.float32)))
    y.output(0).get_tensor().set_names({"y"})
    h = ops.broadcast(
        ops.reshape(
            ops.reduce_mean(x, ops.constant(np.array([1], np.int64)), keep_dims=True),
            ops.constant(np.array([1, 1, 1, 1], np.int64)),
            False,
        ),
        ops.constant(np.array([1, 32, 128, 128], np.int64)),
    )
    w = np.full((32, 32, 3, 3), 1.0 / (32 * 9), np.float32)
    for _ in range(layers):
        h = ops.relu(ops.convolution(h, ops.constant(w), [1, 1], [1, 1], [1, 1], [1, 1]))
    z = ops.reduce_mean(h, ops.constant(np.array([1, 2, 3], np.int64)), keep_dims=False)
    z.output(0).get_tensor().set_names({"z"})
    return _save(ov.Model([y, z], [x], "slow"), base, version)


def onnx_dummy(path: str) -> str:
    """``b`` f32 [1,10] -> ``a`` = b + 1 as an ONNX file (opset 13), written with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper

    one = helper.make_tensor("one", TensorProto.FLOAT, [1, 10], [1.0] * 10)
    graph = helper.make_graph(
        [helper.make_node("Add", ["b", "one"], ["a"])],
        "dummy",
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 10])],
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 10])],
        initializer=[one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)
    return path


def cnn(base: str, version: int = 1, seed: int = 0) -> str:
    """``x`` f32 [1,3,224,224] -> ``probs`` f32 [1,1000]: 9 conv/relu layers, mean, matmul, softmax."""
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(seed)
    x = ops.parameter([1, 3, 224, 224], ov.Type.f32, name="x")
    x.output(0).get_tensor().set_names({"x"})
    h = x
    channels = 3
    plan = ((32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2))  # ~1.4 GFLOP
    for out_c, stride in plan:
        scale = np.float32(np.sqrt(2.0 / (channels * 9)))
        w = rng.standard_normal((out_c, channels, 3, 3)).astype(np.float32) * scale
        h = ops.convolution(h, ops.constant(w), [stride, stride], [1, 1], [1, 1], [1, 1])
        h = ops.relu(ops.add(h, ops.constant(np.zeros((1, out_c, 1, 1), np.float32))))
        channels = out_c
    h = ops.reduce_mean(h, ops.constant(np.array([2, 3], np.int64)), keep_dims=False)
    w = rng.standard_normal((channels, 1000)).astype(np.float32) * np.float32(0.05)
    logits = ops.matmul(h, ops.constant(w), False, False)
    probs = ops.softmax(logits, 1)
    probs.output(0).get_tensor().set_names({"probs"})
    return _save(ov.Model([probs], [x], "cnn"), base, version)


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "dummy")
    target = sys.argv[1] if len(sys.argv) > 1 else default
    print(dummy(target))


def nchw_identity(base: str, size: int = 4, version: int = 1) -> str:
    """``x`` f32 [1,3,size,size] (NCHW) -> ``y`` = x: a normalised-image model whose output shows
    exactly what the server's preprocessing fed it."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 3, size, size], np.float32, name="x")
    x.output(0).get_tensor().set_names({"x"})
    y = ops.multiply(x, ops.constant(np.float32(1.0)))
    y.output(0).get_tensor().set_names({"y"})
    return _save(ov.Model([y], [x], "nchw_identity"), base, version)


def labelled(base: str, version: int = 1) -> str:
    """The dummy model with Geti-style rt_info: a ``model_info`` section (model_type, labels,
    a nested map) as Model API reads it, and a section OVMS does not report."""
    import openvino as ov
    import openvino.opset13 as ops

    b = ops.parameter([1, 10], np.float32, name="b")
    b.output(0).get_tensor().set_names({"b"})
    a = ops.add(b, ops.constant(np.ones((1, 10), np.float32)))
    a.output(0).get_tensor().set_names({"a"})
    model = ov.Model([a], [b], "labelled")
    model.set_rt_info("Classification", ["model_info", "model_type"])
    model.set_rt_info("cat dog", ["model_info", "labels"])
    model.set_rt_info("0.5", ["model_info", "confidence_threshold"])
    model.set_rt_info("True", ["model_info", "multilabel"])
    model.set_rt_info("3", ["model_info", "tiling", "tile_size"])
    model.set_rt_info("x", ["training_extra", "seed"])
    return _save(model, base, version)


def casefold(base: str, version: int = 1) -> str:
    """``text`` string [-1] -> ``lower`` = its case-folded strings, with OpenVINO Tokenizers'
    ``CaseFold`` operation: a model OpenVINO can read only with that extension loaded."""
    import openvino as ov
    import openvino.opset15 as ops
    from openvino_tokenizers import _get_factory

    text = ops.parameter([-1], ov.Type.string, name="text")
    text.output(0).get_tensor().set_names({"text"})
    unpacked = ops.string_tensor_unpack(text)
    folded = _get_factory().create("CaseFold", unpacked.outputs(), {})
    lower = ops.string_tensor_pack(*folded.outputs())
    lower.output(0).get_tensor().set_names({"lower"})
    return _save(ov.Model([lower], [text], "casefold"), base, version)


def add_one_op(base: str, version: int = 1) -> str:
    """``b`` f32 [1,10] -> ``a`` = AddOne(b): the custom operation of tests/custom_ops/add_one.cpp
    (version "extension"), which OpenVINO reads only with that library added. Written as a ReLU
    model whose layer is then renamed in the IR."""
    import openvino as ov
    import openvino.opset13 as ops

    b = ops.parameter([1, 10], np.float32, name="b")
    b.output(0).get_tensor().set_names({"b"})
    a = ops.relu(b)
    a.output(0).get_tensor().set_names({"a"})
    folder = _save(ov.Model([a], [b], "add_one"), base, version)
    path = os.path.join(folder, "model.xml")
    with open(path) as f:
        text = f.read()
    assert text.count('type="ReLU" version="opset1"') == 1
    with open(path, "w") as f:
        f.write(text.replace('type="ReLU" version="opset1"', 'type="AddOne" version="extension"'))
    return folder
