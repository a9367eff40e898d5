"""A model version as clients will see it, before it is compiled: its layouts and OVMS's
preprocessing flags in one PrePostProcessor, then ``shape``/``batch_size`` (in that order, as
OVMS), the config's tensor names turned into the model's, and the ``rt_info`` it reports."""

from __future__ import annotations

import dataclasses
import logging

import openvino as ov
from ovserve.shared.model_config import LoadOptions
from ovserve.shared.model_options import ALL_INPUTS
from ovserve.shared.preprocessing import Preprocessing
from ovserve.workers.tensor_mapping import (
    LAYOUT_MAPPED_BUT_REAL_NAME,
    LAYOUT_NOT_IN_MODEL,
    SHAPE_MAPPED_BUT_REAL_NAME,
    SHAPE_NOT_IN_MODEL,
    TensorMapping,
)

log = logging.getLogger("ovserve.worker")


def _dimension(d: list[int] | tuple[int, int]) -> ov.Dimension:
    lo, hi = d
    if lo == hi:
        return ov.Dimension(lo)
    if hi == -1:
        return ov.Dimension(-1) if lo == 0 else ov.Dimension(lo, -1)
    return ov.Dimension(lo, hi)


def reshape(model: ov.Model, options: LoadOptions) -> None:
    """Apply ``shape`` (wins) or ``batch_size`` as OVMS does; ``auto`` becomes dynamic dims."""
    shape = options.shape
    batch = options.batch_size
    new_shapes: dict[ov.Output, ov.PartialShape] = {}
    for port in model.inputs:
        current = port.get_partial_shape()
        if shape is not None:
            if shape.auto or port.get_any_name() in shape.auto_inputs:
                log.warning("shape auto is deprecated: serving all dimensions as dynamic instead of reloading")
                new_shapes[port] = ov.PartialShape([ov.Dimension(-1)] * current.rank.get_length())
                continue
            dims = shape.all_inputs if shape.all_inputs is not None else dict(shape.per_input).get(port.get_any_name())
            if dims is not None:
                new_shapes[port] = ov.PartialShape([_dimension(d) for d in dims])
        elif batch is not None and current.rank.is_static and current.rank.get_length() > 0:
            dims_list = list(current)
            if isinstance(batch, tuple):
                dims_list[0] = _dimension(batch)
            else:  # "auto"
                log.warning("batch_size auto is deprecated: serving the batch dimension as dynamic")
                dims_list[0] = ov.Dimension(-1)
            new_shapes[port] = ov.PartialShape(dims_list)
    if new_shapes:
        model.reshape(new_shapes)


def preprocess(model: ov.Model, layouts: dict[str, str], pre: Preprocessing | None) -> ov.Model:
    """One PrePostProcessor, in OVMS's order (src/modelinstance.cpp): the layouts, then the
    preprocessing flags (colour, precision, mean, scale) on the model's only input."""
    if not layouts and pre is None:
        return model
    ppp = ov.preprocess.PrePostProcessor(model)
    _apply_layout(model, ppp, layouts)
    if pre is not None:
        try:
            _apply_preprocessing(ppp, pre)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise RuntimeError(
                f"Failed to configure input preprocessing configuration; from OpenVINO with error:{exc}"
            ) from None
    try:
        return ppp.build()
    except RuntimeError as exc:
        raise RuntimeError(f"Cannot change layout or preprocessing parameters. Error: {exc}") from None


def _apply_preprocessing(ppp: ov.preprocess.PrePostProcessor, pre: Preprocessing) -> None:
    if pre.color is not None:
        model_format, client_format = (getattr(ov.preprocess.ColorFormat, n) for n in pre.color)
        ppp.input().tensor().set_color_format(client_format)
        ppp.input().preprocess().convert_color(model_format)
    if pre.precision is not None:
        client_type, model_type = (getattr(ov.Type, n) for n in pre.precision)
        ppp.input().tensor().set_element_type(client_type)
        ppp.input().preprocess().convert_element_type(model_type)
    if pre.mean is not None:
        ppp.input().preprocess().mean(list(pre.mean) if isinstance(pre.mean, tuple) else pre.mean)
    if pre.scale is not None:
        ppp.input().preprocess().scale(list(pre.scale) if isinstance(pre.scale, tuple) else pre.scale)


def _apply_layout(model: ov.Model, ppp: ov.preprocess.PrePostProcessor, layouts: dict[str, str]) -> None:
    """OVMS's ``layout``: ``served:model`` converts (a transpose from the layout clients send to
    the model's), a lone layout names the model's own; one string applies to every input of its
    rank, a map to the named inputs and outputs."""
    names = {n for p in model.inputs for n in p.get_names()}
    for port in model.inputs:
        text = next((layouts[n] for n in port.get_names() if n in layouts), None)
        if text is None and ALL_INPUTS in layouts:
            served = layouts[ALL_INPUTS].partition(":")[0]
            if "..." in served or len(served) == port.get_partial_shape().rank.get_length():
                text = layouts[ALL_INPUTS]
        if text is not None:
            _set_layout(ppp.input(port.get_any_name()), text)
    for port in model.outputs:
        text = next((layouts[n] for n in port.get_names() if n in layouts and n not in names), None)
        if text is not None:
            _set_layout(ppp.output(port.get_any_name()), text)


def _set_layout(info: ov.preprocess.InputInfo | ov.preprocess.OutputInfo, text: str) -> None:
    served, _, native = text.partition(":")
    info.model().set_layout(ov.Layout(native or served))
    if native:
        info.tensor().set_layout(ov.Layout(served))


def real_names(model: ov.Model, mapping: TensorMapping, options: LoadOptions) -> LoadOptions:
    """The config's per-tensor ``shape`` and ``layout`` keys are public names: turned into the
    model's own, with OVMS's errors for a mapped tensor's real name and for names the model does
    not have (with or without a mapping, as OVMS)."""
    inputs = {n for p in model.inputs for n in p.get_names()}
    outputs = {n for p in model.outputs for n in p.get_names()}
    shape = options.shape
    if shape is not None and (shape.per_input or shape.auto_inputs):
        per = dict(shape.per_input)
        keys = [*per, *shape.auto_inputs]
        names = mapping.real_names(keys, inputs, set(), SHAPE_MAPPED_BUT_REAL_NAME, SHAPE_NOT_IN_MODEL)
        real = tuple((names[k], v) for k, v in per.items())
        auto = tuple(names[k] for k in shape.auto_inputs)
        options = dataclasses.replace(options, shape=dataclasses.replace(shape, per_input=real, auto_inputs=auto))
    layout = options.layout
    named = [k for k in layout if k != ALL_INPUTS]
    if named:
        names = mapping.real_names(named, inputs, outputs, LAYOUT_MAPPED_BUT_REAL_NAME, LAYOUT_NOT_IN_MODEL)
        options = dataclasses.replace(options, layout={names.get(k, k): v for k, v in layout.items()})
    return options


def model_info(model: ov.Model) -> dict[str, object] | None:
    """The rt_info section ``model_info`` as OVMS reports it (src/modelinstance.cpp getRTInfo,
    src/http_rest_api_handler.cpp convertRTInfo): maps as objects with their keys sorted, every
    other value as its string form; None when the model has no such section."""
    if not model.has_rt_info(["model_info"]):
        return None
    try:
        section = model.get_rt_info(["model_info"]).value
    except (RuntimeError, TypeError, ValueError):
        return None
    return _rt_map(section) if isinstance(section, dict) else None


def _rt_map(section: dict[object, object]) -> dict[str, object]:
    return {str(k): _rt_value(section[k]) for k in sorted(section, key=str)}


def _rt_value(value: object) -> object:
    if isinstance(value, dict):
        return _rt_map(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):  # OpenVINO writes a vector as its items separated by spaces
        return " ".join(str(_rt_value(v)) for v in value)
    return str(value)
