"""OpenVINO side of a worker: the core, a model version read, shaped (``model_shape``),
checked and compiled; one request run.

Imported only inside worker processes (importing openvino elsewhere changes the
multiprocessing start method: its telemetry forks).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

import numpy as np
import openvino as ov
from openvino._pyopenvino import InferRequest as _BaseInferRequest
from ovserve.shared.model_config import LoadOptions
from ovserve.shared.repository import find_model_file
from ovserve.shared.signature import Signature, TensorSpec
from ovserve.workers.model_shape import model_info, preprocess, real_names, reshape
from ovserve.workers.tensor_mapping import read_mapping

log = logging.getLogger("ovserve.worker")
COPY_BELOW = 64 * 1024


def _dims(partial: ov.PartialShape) -> tuple[tuple[int, int], ...]:
    if partial.rank.is_dynamic:
        raise ValueError("models with a dynamic rank are not supported")
    out = []
    for d in partial:
        if d.is_static:
            n = d.get_length()
            out.append((n, n))
        else:
            out.append((d.get_min_length(), d.get_max_length()))
    return tuple(out)


def check_plugin_config(core: ov.Core, device: str, config: dict[str, str]) -> None:
    """Every key of the model's ``plugin_config`` must be a property its device supports (for
    ``HETERO:``/``MULTI:``/``AUTO:`` lists, the plugin's or any listed device's), as OVMS checks
    it (src/ov_utils.cpp validatePluginConfiguration); ``ENABLE_MMAP`` always passes."""
    plugin, sep, listed = device.partition(":")
    devices = [plugin, *(d.split("(")[0] for d in listed.split(",") if d)] if sep else [device]
    supported = {"ENABLE_MMAP"}
    for name in devices:
        try:
            supported.update(str(p) for p in core.get_property(name, "SUPPORTED_PROPERTIES"))
        except (RuntimeError, TypeError, ValueError) as exc:
            log.warning(
                "Exception thrown from IE when requesting plugin: %s; key: SUPPORTED_PROPERTIES. Error: %s", name, exc
            )
    for key in config:
        if key not in supported:
            log.info("List of supported keys for this device: %s", ", ".join(sorted(supported)))
            raise RuntimeError(f"Plugin config key: {key} not found in supported config keys for device: {device}.")


def compile_config(options: LoadOptions, cpus: int) -> dict[str, str]:
    """Plugin config with ovserve's defaults for a CPU worker pinned to ``cpus`` CPUs."""
    config = dict(options.plugin_config)
    if not options.cache:
        config["CACHE_DIR"] = ""  # this model's blobs stay out of the model cache
    if options.target_device == "CPU":
        if "PERFORMANCE_HINT" not in config and "NUM_STREAMS" not in config:
            config["NUM_STREAMS"] = "1"
        config.setdefault("INFERENCE_NUM_THREADS", str(cpus))
        # the process is already pinned to its CPU set; OpenVINO's own pinning only adds
        # affinity syscalls to every inference (1.2 us each, measured)
        config.setdefault("ENABLE_CPU_PINNING", "NO")
    return config


_INFER = _BaseInferRequest.infer
_NO_INPUTS: dict[int, ov.Tensor] = {}


@dataclass
class LoadedVersion:
    compiled: ov.CompiledModel
    request: ov.InferRequest
    signature: Signature
    input_index: dict[str, int]
    output_names: list[str]
    batchable: bool  # dim 0 of every input is dynamic: queued requests may be merged
    # small static inputs are copied into the request's own tensors (cheaper than wrapping the
    # shared memory in a new ov.Tensor per call); None: inputs are wrapped zero-copy
    input_buffers: list[np.ndarray] | None = None
    streams: int = 1  # OpenVINO execution streams of the compiled model (ovms_streams)
    nireq: int = 1  # the infer-request pool OVMS would make (ovms_infer_req_queue_size)
    string_outputs: frozenset[int] = frozenset()  # outputs read as bytes (OpenVINO string tensors)
    slot: int = -1  # the version's metrics slot (shared.metrics_layout)
    max_batch: int = 0  # the model's own batching limit (OVSERVE_MAX_BATCH); 0: the worker's
    batch_delay_s: float | None = None  # the model's own wait for a batch to fill; None: the worker's
    label: str = ""  # "<model> v<version>", as the worker's statistics name it


def new_core(cache_dir: str | None, cpu_extension: str) -> ov.Core:
    """The worker's OpenVINO core, with OVMS's extensions: ``openvino_tokenizers`` when it is
    installed (OVMS always adds its library: string models with tokenizer operations need it)
    and ``--cpu_extension`` (the supervisor has checked that it loads)."""
    with contextlib.suppress(ImportError):
        import openvino_tokenizers  # noqa: F401  (importing it registers its operations with new cores)
    core = ov.Core()
    # Weights are read into memory, not mapped: a model file truncated or rewritten while it
    # is being loaded would otherwise be a SIGBUS in this process, not a failed load.
    core.set_property({"ENABLE_MMAP": False})
    if cache_dir:
        core.set_property({"CACHE_DIR": cache_dir})
    if cpu_extension:
        core.add_extension(cpu_extension)
    return core


def load_version(core: ov.Core, version_dir: str, options: LoadOptions, name: str = "") -> LoadedVersion:
    model_file = find_model_file(version_dir)
    model = core.read_model(model_file)
    mapping = read_mapping(version_dir, name)
    options = real_names(model, mapping, options)
    # OVMS applies the layout and preprocessing first, then reshapes: --shape is in the layout
    # clients send (src/modelinstance.cpp loadTensors)
    model = preprocess(model, options.layout, options.preprocessing)
    reshape(model, options)
    check_plugin_config(core, options.target_device, options.plugin_config)
    compiled = core.compile_model(model, options.target_device, compile_config(options, len(os.sched_getaffinity(0))))
    layouts = [_layout(p) for p in model.inputs]
    inputs = tuple(
        TensorSpec(
            mapping.public_input(p.get_any_name()),
            p.get_element_type().get_type_name(),
            _dims(p.get_partial_shape()),
            layout,
        )
        for p, layout in zip(compiled.inputs, layouts, strict=True)
    )
    outputs = tuple(
        TensorSpec(
            mapping.public_output(p.get_any_name()), p.get_element_type().get_type_name(), _dims(p.get_partial_shape())
        )
        for p in compiled.outputs
    )
    signature = Signature(inputs, outputs, model_info(model))
    request = compiled.create_infer_request()
    static = all(lo == hi for t in inputs for lo, hi in t.dims)
    small = sum(t.static_nbytes(t.dims[0][0] if t.dims else 1) or COPY_BELOW for t in inputs) < COPY_BELOW
    buffers = [request.get_input_tensor(i).data for i in range(len(inputs))] if static and small else None
    return LoadedVersion(
        compiled=compiled,
        request=request,
        signature=signature,
        input_index={t.name: i for i, t in enumerate(inputs)},
        output_names=[t.name for t in outputs],
        batchable=bool(inputs)
        and all(t.dims and t.dims[0][0] != t.dims[0][1] for t in inputs)
        and all(t.dims for t in outputs),
        input_buffers=buffers,
        streams=_streams(compiled),
        nireq=_nireq(compiled, options.nireq),
        string_outputs=frozenset(i for i, t in enumerate(outputs) if t.element_type == "string"),
        max_batch=options.max_batch or 0,
        batch_delay_s=options.batch_delay_us / 1e6 if options.batch_delay_us is not None else None,
    )


def _layout(port: ov.Output) -> str:
    """The port's layout in OVMS's letters ("NHWC", "N?HWC"), "" when the model sets none."""
    text = ov.layout_helpers.get_layout(port).to_string()
    return "" if text == "[...]" else text.strip("[]").replace(",", "")


def _nireq(compiled: ov.CompiledModel, configured: int) -> int:
    """OVMS's pool size (src/modelinstance.cpp getNumOfParallelInferRequests): ``nireq`` when
    set, else OpenVINO's optimal number of infer requests for the compiled model, else 1. A
    worker runs one inference at a time, so this is what OVMS reports, not a pool it keeps."""
    if configured > 0:
        return configured
    try:
        return max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
    except (RuntimeError, TypeError, ValueError):
        return 1


def _streams(compiled: ov.CompiledModel) -> int:
    try:
        return int(compiled.get_property("NUM_STREAMS"))
    except (RuntimeError, TypeError, ValueError):  # a device that does not report streams
        return 1


def infer(version: LoadedVersion, inputs: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
    """Run one inference; returns views of the request's output tensors (valid until the next
    inference on the same request)."""
    req = version.request
    buffers = version.input_buffers
    for name, array in inputs:
        if buffers is not None:
            np.copyto(buffers[version.input_index[name]], array)
        elif array.dtype.kind == "S":  # strings: OpenVINO copies them into its own tensor
            req.set_input_tensor(version.input_index[name], ov.Tensor(array))
        else:
            req.set_input_tensor(version.input_index[name], ov.Tensor(array, shared_memory=True))
    # The binding's own infer, past the Python wrapper's input dispatch and OVDict of output
    # copies (1-2 us of a tiny model's 5): it answers views of the output tensors, in order.
    outputs = list(_INFER(req, _NO_INPUTS, True, False).values())
    strings = version.string_outputs
    if strings:
        return [req.get_output_tensor(i).bytes_data if i in strings else out for i, out in enumerate(outputs)]
    return outputs
