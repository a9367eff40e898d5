"""The control plane's messages (everyone DEALER -> the supervisor's ROUTER, ZeroMQ), typed: one
class per message with one encoder and one decoder, like the data plane's (``messages``). On
the wire a message is a msgpack list whose first item is its kind.

Who sends what: a worker or front says ``Hello``; a front then ``Serving`` once it accepts
requests, and ``Reload`` for ``POST /v1/config/reload`` (answered by ``ReloadResult``); the
supervisor sends workers ``Load``/``Unload`` (answered by ``Loaded``/``Unloaded``) and
``ForgetArena`` when a front is gone, and fronts the routing table (``TableUpdate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ovserve.shared.model_config import LoadOptions
from ovserve.shared.protocol import pack, unpack
from ovserve.shared.routing_rows import RoutingTableWire, SignatureWire

WORKER, FRONT = "worker", "front"


@dataclass(frozen=True, slots=True)
class Hello:
    """A child is up: its role, index, pid and process generation (a front: and its arena)."""

    KIND: ClassVar[str] = "hello"
    role: str
    index: int
    pid: int
    generation: int = 0
    arena: str = ""

    def encode(self) -> list[Any]:
        return [self.KIND, self.role, self.index, self.pid, self.generation, self.arena]

    @classmethod
    def decode(cls, m: list[Any]) -> Hello:
        return cls(str(m[1]), int(m[2]), int(m[3]), int(m[4]), str(m[5]))


@dataclass(frozen=True, slots=True)
class Serving:
    """A front accepts requests (after its Hello and its first table)."""

    KIND: ClassVar[str] = "serving"
    front: int

    def encode(self) -> list[Any]:
        return [self.KIND, self.front]

    @classmethod
    def decode(cls, m: list[Any]) -> Serving:
        return cls(int(m[1]))


@dataclass(frozen=True, slots=True)
class Load:
    """Load one instance (one loading) of a model version from ``path``; ``slot``: its block of
    metric cells."""

    KIND: ClassVar[str] = "load"
    name: str
    version: int
    instance: int
    path: str
    options: LoadOptions
    slot: int = -1

    def encode(self) -> list[Any]:
        return [self.KIND, self.name, self.version, self.instance, self.path, self.options.encode(), self.slot]

    @classmethod
    def decode(cls, m: list[Any]) -> Load:
        return cls(str(m[1]), int(m[2]), int(m[3]), str(m[4]), LoadOptions.decode(m[5]), int(m[6]))


@dataclass(frozen=True, slots=True)
class Unload:
    KIND: ClassVar[str] = "unload"
    name: str
    version: int
    instance: int

    def encode(self) -> list[Any]:
        return [self.KIND, self.name, self.version, self.instance]

    @classmethod
    def decode(cls, m: list[Any]) -> Unload:
        return cls(str(m[1]), int(m[2]), int(m[3]))


@dataclass(frozen=True, slots=True)
class Loaded:
    """A worker's result of a Load: the signature (wire form) it found, or the error."""

    KIND: ClassVar[str] = "loaded"
    worker: int
    instance: int
    ok: bool
    signature: SignatureWire | None = None
    error: str = ""

    def encode(self) -> list[Any]:
        return [self.KIND, self.worker, self.instance, self.ok, self.signature, self.error]

    @classmethod
    def decode(cls, m: list[Any]) -> Loaded:
        return cls(int(m[1]), int(m[2]), bool(m[3]), m[4], str(m[5]))


@dataclass(frozen=True, slots=True)
class Unloaded:
    KIND: ClassVar[str] = "unloaded"
    worker: int
    instance: int

    def encode(self) -> list[Any]:
        return [self.KIND, self.worker, self.instance]

    @classmethod
    def decode(cls, m: list[Any]) -> Unloaded:
        return cls(int(m[1]), int(m[2]))


@dataclass(frozen=True, slots=True)
class ForgetArena:
    """A front is gone: a worker unmaps its arena."""

    KIND: ClassVar[str] = "forget_arena"
    arena: str

    def encode(self) -> list[Any]:
        return [self.KIND, self.arena]

    @classmethod
    def decode(cls, m: list[Any]) -> ForgetArena:
        return cls(str(m[1]))


@dataclass(frozen=True, slots=True)
class TableUpdate:
    KIND: ClassVar[str] = "table"
    table: RoutingTableWire

    def encode(self) -> list[Any]:
        return [self.KIND, self.table.encode()]

    @classmethod
    def decode(cls, m: list[Any]) -> TableUpdate:
        return cls(RoutingTableWire.decode(m[1]))


@dataclass(frozen=True, slots=True)
class TableApplied:
    """A front applied the table of this generation (reload answers wait for every front's)."""

    KIND: ClassVar[str] = "table_applied"
    front: int
    generation: int

    def encode(self) -> list[Any]:
        return [self.KIND, self.front, self.generation]

    @classmethod
    def decode(cls, m: list[Any]) -> TableApplied:
        return cls(int(m[1]), int(m[2]))


@dataclass(frozen=True, slots=True)
class Reload:
    KIND: ClassVar[str] = "reload"
    id: int

    def encode(self) -> list[Any]:
        return [self.KIND, self.id]

    @classmethod
    def decode(cls, m: list[Any]) -> Reload:
        return cls(int(m[1]))


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """The answer of a Reload: an HTTP-style code and the error text (None: none)."""

    KIND: ClassVar[str] = "reload_result"
    id: int
    http: int
    error: str | None

    def encode(self) -> list[Any]:
        return [self.KIND, self.id, self.http, self.error]

    @classmethod
    def decode(cls, m: list[Any]) -> ReloadResult:
        return cls(int(m[1]), int(m[2]), m[3])


ControlMessage = (
    Hello
    | Serving
    | Load
    | Unload
    | Loaded
    | Unloaded
    | ForgetArena
    | TableUpdate
    | TableApplied
    | Reload
    | ReloadResult
)
_KINDS: dict[str, Any] = {
    c.KIND: c
    for c in (
        Hello,
        Serving,
        Load,
        Unload,
        Loaded,
        Unloaded,
        ForgetArena,
        TableUpdate,
        TableApplied,
        Reload,
        ReloadResult,
    )
}


def encode(message: ControlMessage) -> bytes:
    return pack(message.encode())


def decode(data: bytes) -> ControlMessage:
    """The message in ``data``; a kind no class has raises ``ValueError``."""
    m = unpack(data)
    cls = _KINDS.get(m[0]) if isinstance(m, list) and m else None
    if cls is None:
        raise ValueError(f"unknown control message {m!r:.80}")
    message: ControlMessage = cls.decode(m)
    return message
