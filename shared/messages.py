"""Typed data-plane messages between a front and a worker, one encode and one decode each.

They travel as msgpack lists inside ``protocol.frame`` (positional, so a descriptor costs a few
bytes and no key strings); these classes are the only code that knows the positions.

* ``Attach``: the first message on a connection. The front names the worker generation its
  routing table knows; a worker of another generation (a respawned process under the same socket
  path) closes the connection, so no front feeds it blocks it may release when the new table
  arrives.
* ``InferRequest``: tensors already in the front's shared-memory arena at ``inputs[i].offset``;
  the worker writes outputs into ``[out_offset, out_offset + out_size)`` of the same block. The
  block's first byte is ``LIVE``, or ``CANCELLED`` once the front gave up (client gone, deadline
  passed): a worker skips such a request instead of computing it for nobody. ``sent`` and
  ``deadline`` are wall-clock seconds (queue time is measured from ``sent``).
  With ``chain`` (a DAG pipeline whose nodes run one after another), the request is the
  pipeline's: its inputs are the pipeline's, and the worker runs every step in turn (the first
  step is ``model``/``version``/``instance`` again), feeding each from the request or an earlier
  step, and answers the pipeline's outputs.
* ``InferResult``: outputs in the arena, or carried inline (``offset == INLINE``) when they did not
  fit the reservation; or an error named by its ``shared.errors`` status name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INFER = 1
RESULT = 2
ATTACH = 3
LIVE = 0
CANCELLED = 1
INLINE = -1


@dataclass(slots=True)
class TensorDesc:
    name: str
    offset: int  # byte offset in the arena, or INLINE
    dtype: str  # numpy dtype.str, e.g. "<f4"
    shape: list[int]
    data: bytes | None = None  # INLINE only

    def encode(self) -> list[Any]:
        if self.data is None:
            return [self.name, self.offset, self.dtype, self.shape]
        return [self.name, self.offset, self.dtype, self.shape, self.data]

    @classmethod
    def decode(cls, item: list[Any]) -> TensorDesc:
        return cls(*item)


@dataclass(slots=True)
class Attach:
    generation: int

    def encode(self) -> list[Any]:
        return [ATTACH, self.generation]

    @classmethod
    def decode(cls, message: Any) -> Attach | None:
        """The Attach this message is, or None when it is anything else."""
        if type(message) is list and len(message) == 2 and message[0] == ATTACH and type(message[1]) is int:
            return cls(message[1])
        return None


Source = tuple[str, int, str]  # (a model input or a pipeline output, source step or REQUEST, tensor name)
REQUEST = -1  # a step's source: the request's own tensors


@dataclass(slots=True)
class ChainStep:
    model: str
    version: int
    instance: int
    inputs: list[Source]


@dataclass(slots=True)
class Chain:
    steps: list[ChainStep]
    returns: list[Source]  # the pipeline's outputs, in its order

    def encode(self) -> list[Any]:
        return [[[s.model, s.version, s.instance, s.inputs] for s in self.steps], self.returns]

    @classmethod
    def decode(cls, m: list[Any]) -> Chain:
        steps, returns = m
        return cls(
            [
                ChainStep(model, version, instance, [tuple(i) for i in inputs])
                for model, version, instance, inputs in steps
            ],
            [tuple(r) for r in returns],
        )


@dataclass(slots=True)
class InferRequest:
    rid: int
    model: str
    version: int
    instance: int
    sent: float
    deadline: float
    arena: str
    block: int  # offset of the request's block; its first byte is LIVE or CANCELLED
    inputs: list[TensorDesc]
    out_offset: int
    out_size: int
    chain: Chain | None = None

    def encode(self) -> list[Any]:
        message = [
            INFER,
            self.rid,
            self.model,
            self.version,
            self.instance,
            self.sent,
            self.deadline,
            self.arena,
            self.block,
            [t.encode() for t in self.inputs],
            self.out_offset,
            self.out_size,
        ]
        if self.chain is not None:
            message.append(self.chain.encode())
        return message

    @classmethod
    def decode(cls, m: list[Any]) -> InferRequest:
        kind, rid, model, version, instance, sent, deadline, arena, block, inputs, out_offset, out_size = m[:12]
        if kind != INFER:
            raise ValueError(f"not an INFER message: {kind!r}")
        descs = [TensorDesc(*t) for t in inputs]
        chain = Chain.decode(m[12]) if len(m) > 12 else None
        return cls(rid, model, version, instance, sent, deadline, arena, block, descs, out_offset, out_size, chain)


@dataclass(slots=True)
class InferResult:
    rid: int
    outputs: list[TensorDesc] | None  # None: failed, see error
    error: str = ""  # a status name of shared.errors
    details: str = ""

    @classmethod
    def failure(cls, rid: int, error: str, details: str = "") -> InferResult:
        return cls(rid, None, error, details)

    def encode(self) -> list[Any]:
        if self.outputs is None:
            return [RESULT, self.rid, False, [self.error, self.details]]
        return [RESULT, self.rid, True, [t.encode() for t in self.outputs]]

    @classmethod
    def decode(cls, m: list[Any]) -> InferResult:
        kind, rid, ok, payload = m
        if kind != RESULT:
            raise ValueError(f"not a RESULT message: {kind!r}")
        if ok:
            return cls(rid, [TensorDesc(*t) for t in payload])
        error, details = payload
        return cls(rid, None, error, details)
