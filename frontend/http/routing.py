"""OVMS URL routing of the REST port, both dialects (TFS ``/v1`` and KServe ``/v2``) and the
OpenAI-style model listing (``/v3/models``): the same
regexes, full-match on the raw path, in the same check order (src/http_rest_api_handler.cpp), so that
every URL gets the answer OVMS would give. The route's kind names the endpoint; the adapters
(``tfs.rest_endpoints``, ``kserve.rest_endpoints``) serve them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError

PREDICT = re.compile(r"(.?)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/(\w+)))?:(classify|regress|predict)")
STATUS = re.compile(r"(.?)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/(\w+)))?(?:/(metadata))?")
CONFIG_RELOAD = re.compile(r"(.?)/v1/config/reload")
CONFIG_STATUS = re.compile(r"(.?)/v1/config")
KFS_INFER = re.compile(r"/v2/models/([^/]+)(?:/versions/([0-9]+))?(?:/(infer))")
KFS_READY = re.compile(r"/v2/models/([^/]+)(?:/versions/([0-9]+))?(?:/(ready))")
KFS_METADATA = re.compile(r"/v2/models/([^/]+)(?:/versions/([0-9]+))?(?:/)?")
KFS_LIVE = "/v2/health/live"
KFS_READY_SERVER = "/v2/health/ready"
KFS_SERVER_METADATA = "/v2"
KFS_SERVER = re.compile(r"/v2/health/ready|/v2/health/live|/v2")
METRICS = re.compile(r"(.?)/metrics(\?(.*))?")
V3_LIST = re.compile(r"/v3/(v1/)?models")
V3_MODEL = re.compile(r"/v3/(v1/)?models/(.+)")
GET_ONLY = (STATUS, CONFIG_STATUS, KFS_SERVER, KFS_METADATA, KFS_READY, METRICS)
INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Route:
    kind: str  # one of KINDS
    model: str = ""
    version: int = 0  # 0: default version (all versions for status); KServe's literal "0": -1


KINDS = (
    "predict", "status", "metadata", "config_status", "config_reload", "options",  # TFS REST and config
    "kfs_live", "kfs_ready", "kfs_server_metadata", "kfs_model_ready", "kfs_model_metadata", "kfs_infer",
    "metrics", "v3_list", "v3_model",  # OpenAI-style model listing
)  # fmt: skip


def percent_decode(text: str) -> str:
    """OVMS's decoding of captured names: ``%XX`` becomes a byte, a bad escape stays as is."""
    if "%" not in text:
        return text
    out = bytearray()
    raw = text.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25 and i + 2 < len(raw) and _is_hex(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return out.decode("utf-8", "surrogateescape")


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(chr(b) in "0123456789abcdefABCDEF" for b in pair)


def _version(text: str | None) -> int:
    if text is None:
        return 0
    number = int(text)
    if number > INT64_MAX:
        raise OvmsError(E.MODEL_VERSION_MISSING)
    return number


def _kfs_version(text: str | None) -> int:
    """KServe looks a version up literally: ``0`` is no version of any model (-1 finds none)."""
    number = _version(text)
    return -1 if text is not None and number == 0 else number


def _kfs(kind: str, m: re.Match[str]) -> Route:
    return Route(kind, percent_decode(m.group(1)), _kfs_version(m.group(2)))


def _escapes(path: str) -> bool:
    p = path.replace("\\", "/")
    return p.startswith("../") or p.endswith("/..") or "/../" in p


_ROUTES: dict[tuple[str, str], Route] = {}  # a route is a pure function of (method, path)
ROUTE_CACHE = 4096


def route(method: str, path: str) -> Route:
    """Map a request to a Route, or raise the OvmsError OVMS would answer. Clients repeat the
    same few URLs, so routes found are remembered (errors are not: any path may be sent)."""
    found = _ROUTES.get((method, path))
    if found is None:
        found = _route(method, path)
        if len(_ROUTES) >= ROUTE_CACHE:
            _ROUTES.clear()
        _ROUTES[(method, path)] = found
    return found


def _route(method: str, path: str) -> Route:
    if method not in ("GET", "POST", "OPTIONS"):
        raise OvmsError(E.REST_UNSUPPORTED_METHOD)
    if _escapes(path):
        raise OvmsError(E.PATH_INVALID)
    if method == "OPTIONS":
        return Route("options")
    if method == "POST":
        m = PREDICT.fullmatch(path)
        if m:
            if m.group(5) != "predict":
                raise OvmsError(E.REST_NOT_FOUND)
            return Route("predict", percent_decode(m.group(2)), _version(m.group(3)))
        m = KFS_INFER.fullmatch(path)
        if m:
            return _kfs("kfs_infer", m)
        if CONFIG_RELOAD.fullmatch(path):
            return Route("config_reload")
        if any(p.fullmatch(path) for p in GET_ONLY):
            raise OvmsError(E.REST_UNSUPPORTED_METHOD)
        raise OvmsError(E.REST_INVALID_URL)
    # GET
    m = STATUS.fullmatch(path)
    if m:
        kind = "metadata" if m.group(5) else "status"
        name = m.group(2)
        if name is None:
            raise OvmsError(E.MODEL_NAME_MISSING)
        return Route(kind, percent_decode(name), _version(m.group(3)))
    if CONFIG_STATUS.fullmatch(path):
        return Route("config_status")
    if path == KFS_LIVE:
        return Route("kfs_live")
    if path == KFS_READY_SERVER:
        return Route("kfs_ready")
    if path == KFS_SERVER_METADATA:
        return Route("kfs_server_metadata")
    m = KFS_METADATA.fullmatch(path)
    if m:
        return _kfs("kfs_model_metadata", m)
    m = KFS_READY.fullmatch(path)
    if m:
        return _kfs("kfs_model_ready", m)
    if PREDICT.fullmatch(path):
        raise OvmsError(E.REST_UNSUPPORTED_METHOD)
    if METRICS.fullmatch(path):
        return Route("metrics")
    if V3_LIST.fullmatch(path):
        return Route("v3_list")
    m = V3_MODEL.fullmatch(path)
    if m:
        return Route("v3_model", percent_decode(m.group(2)))
    if CONFIG_RELOAD.fullmatch(path) or KFS_INFER.fullmatch(path):
        raise OvmsError(E.REST_UNSUPPORTED_METHOD)
    raise OvmsError(E.REST_INVALID_URL)
