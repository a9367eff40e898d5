"""Access control by API key: which API group each REST route and gRPC method belongs to, and the
check of ``Authorization: Bearer <key>`` (REST header or gRPC metadata, as OVMS checks its /v3
key: the name in any case, the value exactly). Health endpoints and CORS preflights stay open, so
probes and browsers work. Keys are compared in constant time and never logged."""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

GROUPS = ("inference", "metadata", "config", "metrics")
ENV_KEY = "API_KEY"
# REST route kinds (frontend.http.routing) -> group; None: always open
REST_GROUP: dict[str, str | None] = {
    "predict": "inference",
    "kfs_infer": "inference",
    "status": "metadata",
    "metadata": "metadata",
    "kfs_server_metadata": "metadata",
    "kfs_model_ready": "metadata",
    "kfs_model_metadata": "metadata",
    "v3_list": "metadata",
    "v3_model": "metadata",
    "config_status": "config",
    "config_reload": "config",
    "metrics": "metrics",
    "kfs_live": None,
    "kfs_ready": None,
    "options": None,
}
# gRPC method names (KServe's and TF Serving's services) -> group; None: always open
GRPC_GROUP: dict[str, str | None] = {
    "ModelInfer": "inference",
    "ModelStreamInfer": "inference",
    "Predict": "inference",
    "Classify": "inference",
    "Regress": "inference",
    "MultiInference": "inference",
    "ServerMetadata": "metadata",
    "ModelMetadata": "metadata",
    "ModelReady": "metadata",
    "GetModelMetadata": "metadata",
    "GetModelStatus": "metadata",
    "HandleReloadConfigRequest": "config",
    "ServerLive": None,
    "ServerReady": None,
}


class ApiKeyError(ValueError):
    pass


def read_key(path: str) -> str:
    """The key as OVMS reads ``--api_key_file``: the first line, whitespace trimmed at its end;
    without a file, the ``API_KEY`` environment variable ("" when neither gives one)."""
    if not path:
        return os.environ.get(ENV_KEY, "")
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
    except (OSError, UnicodeDecodeError):
        raise ApiKeyError(f"Error reading API key file: Unable to open file {path}") from None
    key = first.rstrip(" \n\r\t")
    if not key:
        raise ApiKeyError(f"api_key_file: {path} has no key on its first line")
    return key


def parse_groups(text: str) -> frozenset[str]:
    groups = frozenset(g.strip() for g in text.split(",") if g.strip())
    unknown = sorted(groups - set(GROUPS))
    if unknown or not groups:
        raise ApiKeyError(f"api_key_apis: {', '.join(unknown) or 'nothing'} is not one of {', '.join(GROUPS)}")
    return groups


@dataclass(frozen=True)
class Access:
    """A key and the groups it guards."""

    expected: bytes  # "Bearer <key>", as the header must read
    groups: frozenset[str]

    @classmethod
    def of(cls, key: str, groups: frozenset[str]) -> Access | None:
        return cls(f"Bearer {key}".encode(), groups) if key else None

    def guards(self, group: str | None) -> bool:
        return group is not None and group in self.groups

    def allows(self, authorization: str | bytes | None) -> bool:
        if authorization is None:
            return False
        given = authorization.encode("latin-1", "replace") if isinstance(authorization, str) else authorization
        return hmac.compare_digest(given, self.expected)


def front_access(key_file: str, groups: tuple[str, ...]) -> Access | None:
    """A front's access control: none without guarded groups. A key that cannot be read any
    more (the file changed since the start was checked) fails closed: every guarded call is refused."""
    if not groups:
        return None
    try:
        key = read_key(key_file)
    except ApiKeyError:
        key = ""
    return Access.of(key or os.urandom(32).hex(), frozenset(groups))
