import pytest
from ovserve.frontend.http.routing import Route, percent_decode, route
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError


def err(method: str, path: str) -> E.Status:
    with pytest.raises(OvmsError) as info:
        route(method, path)
    return info.value.status


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/models/m:predict", Route("predict", "m", 0)),
        ("POST", "/v1/models/m/versions/3:predict", Route("predict", "m", 3)),
        ("POST", "/v1/models/m/versions/0:predict", Route("predict", "m", 0)),
        ("POST", "/v1/models/m/labels/stable:predict", Route("predict", "m", 0)),
        ("POST", "/v1/models/a%2Fb:predict", Route("predict", "a/b", 0)),
        ("POST", "//v1/models/m:predict", Route("predict", "m", 0)),
        ("GET", "/v1/models/m", Route("status", "m", 0)),
        ("GET", "/v1/models/m/versions/2", Route("status", "m", 2)),
        ("GET", "/v1/models/m/labels/x", Route("status", "m", 0)),
        ("GET", "/v1/models/m/metadata", Route("metadata", "m", 0)),
        ("GET", "/v1/models/m/versions/7/metadata", Route("metadata", "m", 7)),
        ("GET", "/v1/config", Route("config_status")),
        ("POST", "/v1/config/reload", Route("config_reload")),
        ("OPTIONS", "/anything", Route("options")),
        ("GET", "/v2/health/live", Route("kfs_live")),
        ("GET", "/v2/health/ready", Route("kfs_ready")),
        ("GET", "/v2", Route("kfs_server_metadata")),
        ("GET", "/v2/models/m", Route("kfs_model_metadata", "m", 0)),
        ("GET", "/v2/models/m/", Route("kfs_model_metadata", "m", 0)),
        ("GET", "/v2/models/m/versions/4", Route("kfs_model_metadata", "m", 4)),
        ("GET", "/v2/models/m/ready", Route("kfs_model_ready", "m", 0)),
        ("GET", "/v2/models/a%2Fb/versions/2/ready", Route("kfs_model_ready", "a/b", 2)),
        ("GET", "/v2/models/m/versions/0/ready", Route("kfs_model_ready", "m", -1)),  # literal 0: no such version
        ("POST", "/v2/models/m/infer", Route("kfs_infer", "m", 0)),
        ("POST", "/v2/models/m/versions/3/infer", Route("kfs_infer", "m", 3)),
    ],
)
def test_routes(method: str, path: str, expected: Route) -> None:
    assert route(method, path) == expected


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PUT", "/v1/models/m:predict", E.REST_UNSUPPORTED_METHOD),
        ("DELETE", "/v1/config", E.REST_UNSUPPORTED_METHOD),
        ("HEAD", "/v1/models/m", E.REST_UNSUPPORTED_METHOD),
        ("POST", "/v1/models/m:classify", E.REST_NOT_FOUND),
        ("POST", "/v1/models/m/versions/1:regress", E.REST_NOT_FOUND),
        ("GET", "/v1/models/m:predict", E.REST_UNSUPPORTED_METHOD),
        ("GET", "/v1/config/reload", E.REST_UNSUPPORTED_METHOD),
        ("POST", "/v1/models/m", E.REST_UNSUPPORTED_METHOD),
        ("POST", "/v1/models/m/metadata", E.REST_UNSUPPORTED_METHOD),
        ("POST", "/v1/config", E.REST_UNSUPPORTED_METHOD),
        ("GET", "/v1/models/x/versions/abc", E.REST_INVALID_URL),
        ("GET", "/v2x", E.REST_INVALID_URL),
        ("GET", "/v2/models/m/infer", E.REST_UNSUPPORTED_METHOD),
        ("POST", "/v2/health/live", E.REST_UNSUPPORTED_METHOD),
        ("POST", "/v2/models/m", E.REST_UNSUPPORTED_METHOD),
        ("POST", "/v2/models/m/ready", E.REST_UNSUPPORTED_METHOD),
        ("GET", "/v2/models/m/versions/x", E.REST_INVALID_URL),
        ("GET", "/v2/health", E.REST_INVALID_URL),
        ("POST", "/nothing", E.REST_INVALID_URL),
        ("GET", "/v1/models", E.MODEL_NAME_MISSING),
        ("GET", "/v1/models/../secret", E.PATH_INVALID),
        ("POST", "/v1/models/a/..", E.PATH_INVALID),
        ("OPTIONS", "/v1/../x", E.PATH_INVALID),
        ("POST", "/v1/models/m/versions/72487667423532349025128558057:predict", E.MODEL_VERSION_MISSING),
    ],
)
def test_route_errors(method: str, path: str, status: E.Status) -> None:
    assert err(method, path) == status


def test_percent_decode_keeps_bad_escapes() -> None:
    assert percent_decode("model%2Fname") == "model/name"
    assert percent_decode("model%") == "model%"
    assert percent_decode("model%2") == "model%2"
    assert percent_decode("a%zzb") == "a%zzb"
    assert percent_decode("%41%42") == "AB"
