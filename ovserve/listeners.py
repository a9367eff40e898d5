"""The REST port's listening sockets: bound once by the supervisor, inherited by every front
(a respawned front gets the same sockets, so no connection is refused while it starts)."""

from __future__ import annotations

import logging
import socket

from ovserve.settings import Settings
from ovserve.shared.wording import count

log = logging.getLogger("ovserve.supervisor")


def bind_listeners(host_list: str, port: int) -> list[socket.socket]:
    socks = []
    for host in [h.strip() for h in host_list.split(",") if h.strip()]:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, addr = infos[0]
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind(addr)
        s.listen(1024)
        s.set_inheritable(True)
        socks.append(s)
    return socks


def busy_address(host_list: str, port: int) -> str | None:
    """The first ``host:port`` of the list another process already holds (the gRPC fronts bind
    it themselves, with SO_REUSEPORT; the supervisor checks first so that a busy port fails the
    start, as OVMS's "port is busy", instead of failing every front it starts)."""
    for host in [h.strip() for h in host_list.split(",") if h.strip()]:
        family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(addr)
            except OSError:
                return f"{host}:{port}"
    return None


def open_ports(s: Settings) -> list[socket.socket] | None:
    """The REST listening sockets (none without a REST port), with the gRPC port checked free;
    None (logged) when either cannot be had: the start fails."""
    try:
        listeners = bind_listeners(s.rest_bind_address, s.rest_port) if s.rest_port else []
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", s.rest_bind_address, s.rest_port, exc)
        return None
    busy = s.grpc_port and busy_address(s.grpc_bind_address, s.grpc_port)
    if busy:
        log.error("Failed to start gRPC server at %s - port is busy", busy)
        for sock in listeners:
            sock.close()
        return None
    return listeners


def announce(s: Settings) -> None:
    """The log lines that say where the server answers (the README's quick start reads the URL)."""
    log.info("%s on CPUs %s", count(len(s.worker_cpu_sets), "worker"), s.worker_cpu_sets)
    host = s.rest_bind_address.split(",")[0]
    if s.rest_port:
        log.info(
            "ovserve serving REST at %s://%s:%d (%s)",
            "https" if s.rest_tls is not None else "http",
            host if host not in ("0.0.0.0", "::") else "127.0.0.1",
            s.rest_port,
            count(s.front_processes, "front"),
        )
    if s.grpc_port:
        tls = "TLS, " if s.grpc_tls is not None else ""
        fronts = count(s.grpc_workers, "gRPC front")
        log.info("ovserve serving gRPC at %s:%d (%s%s)", s.grpc_bind_address, s.grpc_port, tls, fronts)
