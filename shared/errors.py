"""The one table of OVMS status codes: HTTP code and base message for each.

Every error a client can see is raised as :class:`OvmsError` with one of these codes, so the
texts live here and nowhere else (tests import this table too).
"""

from __future__ import annotations

from typing import NamedTuple


class Status(NamedTuple):
    http: int
    message: str


# name -> (HTTP code, base message), as OVMS 2026.2 (src/status.cpp, src/http_server.cpp).
OK = Status(200, "")
OK_NOT_RELOADED = Status(200, "Config reload was not needed")
OK_RELOADED = Status(201, "Config reload successful")
REST_INVALID_URL = Status(400, "Invalid request URL")
REST_UNSUPPORTED_METHOD = Status(406, "Unsupported method")
REST_NOT_FOUND = Status(404, "Requested REST resource not found")
REST_BODY_IS_NOT_AN_OBJECT = Status(400, "Request body should be JSON object")
REST_PREDICT_UNKNOWN_ORDER = Status(400, "Invalid JSON structure. Could not detect row or column format")
REST_INSTANCES_NOT_AN_ARRAY = Status(400, "Invalid JSON structure. Nonamed instance is not an array.")
REST_NAMED_INSTANCE_NOT_AN_OBJECT = Status(400, "Invalid JSON structure. One of named instances is not a JSON object.")
REST_INPUT_NOT_PREALLOCATED = Status(500, "Internal allocation error")
REST_NO_INSTANCES_FOUND = Status(400, "Invalid JSON structure. Missing instances in row format")
REST_INSTANCES_NOT_NAMED_OR_NONAMED = Status(400, "Could not detect neither named or nonamed format")
REST_COULD_NOT_PARSE_INSTANCE = Status(400, "Could not parse instance content. Not valid ndarray detected")
REST_INSTANCES_BATCH_SIZE_DIFFER = Status(400, "Invalid JSON structure. Request inputs have different batch sizes")
REST_INPUTS_NOT_AN_OBJECT = Status(400, "Invalid JSON structure. One of inputs is not a JSON object.")
REST_NO_INPUTS_FOUND = Status(400, "Invalid JSON structure, missing inputs")
REST_COULD_NOT_PARSE_INPUT = Status(400, "Could not parse input content. Not valid ndarray detected")
REST_UNSUPPORTED_PRECISION = Status(400, "Could not parse input content. Unsupported data precision detected")
REST_COULD_NOT_PARSE_OUTPUT = Status(400, "Could not parse output content.")
REST_COULD_NOT_PARSE_PARAMETERS = Status(400, "Could not parse request parameters")
REST_BINARY_DATA_SIZE_PARAMETER_INVALID = Status(400, "binary_data_size parameter is invalid and cannot be parsed")
REST_BINARY_BUFFER_EXCEEDED = Status(400, "Received buffer size is smaller than binary_data_size parameter indicates")
REST_INFERENCE_HEADER_CONTENT_LENGTH_INVALID = Status(
    500, "Inference-Header-Content-Length header is invalid and couldn't be parsed"
)
REST_INFERENCE_HEADER_CONTENT_LENGTH_EXCEEDED = Status(
    500, "Inference-Header-Content-Length header exceeds actual payload length"
)
REST_CONTENTS_FIELD_NOT_EMPTY = Status(500, "Request contains values both in binary data and in content value")
REST_PROTO_TO_STRING_ERROR = Status(500, "Response parsing to JSON error")
UNSUPPORTED_SERIALIZATION_PRECISION = Status(500, "Unsupported serialization precision")
JSON_INVALID = Status(412, "The file is not valid json")
JSON_NESTING_DEPTH_EXCEEDED = Status(500, "JSON nesting depth exceeds the allowed limit")
PATH_INVALID = Status(400, "The provided base path is invalid or doesn't exists")
MODEL_NAME_MISSING = Status(404, "Model with requested name is not found")
# /v3/models/{name} of a name with nothing available (OVMS: MODEL_NOT_LOADED, which HTTP maps to 500)
V3_MODEL_NOT_FOUND = Status(500, "Model not found")
MODEL_VERSION_MISSING = Status(404, "Model with requested version is not found")
MODEL_VERSION_NOT_LOADED_YET = Status(404, "Model with requested version is not loaded yet")
MODEL_VERSION_NOT_LOADED_ANYMORE = Status(404, "Model with requested version is retired")
MEDIAPIPE_DEFINITION_NAME_MISSING = Status(404, "Mediapipe graph definition with requested name is not found")
INVALID_NO_OF_INPUTS = Status(400, "Invalid number of inputs")
INVALID_MISSING_INPUT = Status(400, "Missing input with specific name")
INVALID_NO_OF_SHAPE_DIMENSIONS = Status(400, "Invalid number of shape dimensions")
INVALID_BATCH_SIZE = Status(400, "Invalid input batch size")
INVALID_SHAPE = Status(400, "Invalid input shape")
INVALID_PRECISION = Status(400, "Invalid input precision")
INVALID_VALUE_COUNT = Status(400, "Invalid number of values in tensor proto container")
INVALID_CONTENT_SIZE = Status(400, "Invalid content size of tensor proto")
INVALID_MESSAGE_STRUCTURE = Status(
    400,
    "Passing buffers both in ModelInferRequest::InferInputTensor::contents and in "
    "ModelInferRequest::raw_input_contents is not allowed",
)
INVALID_INPUT_FORMAT = Status(400, "Inputs inside buffer does not match expected format.")
NOT_IMPLEMENTED = Status(500, "Functionality not implemented")
PIPELINE_DEFINITION_NAME_MISSING = Status(404, "Pipeline with requested name is not found")
PIPELINE_DEFINITION_NOT_LOADED_YET = Status(404, "Pipeline is not loaded yet")
PIPELINE_DEFINITION_NOT_LOADED_ANYMORE = Status(404, "Pipeline is retired")
# DAG pipelines: load-time validation (src/dags/pipelinedefinition.cpp; unmapped over HTTP: 500).
PIPELINE_NAME_OCCUPIED = Status(500, "Pipeline has the same name as model")
PIPELINE_NODE_NAME_DUPLICATE = Status(500, "Pipeline definition has multiple nodes with the same name")
PIPELINE_NODE_REFERING_TO_MISSING_MODEL = Status(500, "Pipeline definition has reference to missing model")
PIPELINE_NODE_REFERING_TO_MISSING_NODE = Status(500, "Pipeline definition has reference to missing node")
PIPELINE_EXIT_USED_AS_NODE_DEPENDENCY = Status(500, "Pipeline definition has response node used as dependency node")
PIPELINE_CONNECTION_TO_MISSING_MODEL_INPUT = Status(
    500, "Pipeline definition has connection to non existing model input"
)
PIPELINE_MODEL_INPUT_CONNECTED_TO_MULTIPLE_DATA_SOURCES = Status(
    500, "Pipeline definition has multiple connections to the same input of underlying model"
)
PIPELINE_NODE_REFERING_TO_MISSING_DATA_SOURCE = Status(500, "Pipeline definition has reference to missing data source")
PIPELINE_NODE_REFERING_TO_MISSING_MODEL_OUTPUT = Status(
    500, "Pipeline definition has reference to missing model output"
)
PIPELINE_NOT_ALL_INPUTS_CONNECTED = Status(
    500, "Pipeline definition does not have connections for all inputs of underlying models"
)
PIPELINE_CYCLE_FOUND = Status(500, "Pipeline definition contains a cycle")
PIPELINE_CONTAINS_UNCONNECTED_NODES = Status(500, "Pipeline definition has unconnected nodes")
PIPELINE_NODE_GATHER_FROM_NOT_EXISTING_NODE = Status(500, "Gather node refers to not existing node")
PIPELINE_NODE_GATHER_FROM_NOT_DEMULTIPLEXER = Status(500, "Gather node refers to node that isn't demultiplexer")
PIPELINE_NOT_ENOUGH_SHAPE_DIMENSIONS_TO_DEMULTIPLY = Status(
    500, "Pipeline has not enough shape dimensions to demultiply"
)
PIPELINE_DEMULTIPLY_COUNT_DOES_NOT_MATCH_TENSOR_SHARD_COUNT = Status(
    500, "Demultiplication count does not match tensor first dimension"
)
PIPELINE_WRONG_DEMULTIPLEXER_GATHER_NODES_ORDER = Status(500, "Demultiplexer and gather nodes are not in LIFO order")
# DAG pipelines: demultiplexing at run time (unmapped: 500)
PIPELINE_TOO_LARGE_DIMENSION_SIZE_TO_DEMULTIPLY = Status(500, "Too large dynamic demultiplication requested.")
PIPELINE_WRONG_NUMBER_OF_DIMENSIONS_TO_DEMULTIPLY = Status(500, "Wrong number of dimensions in a tensor to be sharded")
PIPELINE_WRONG_DIMENSION_SIZE_TO_DEMULTIPLY = Status(500, "Wrong dimension size. Should match demultiply count")
PIPELINE_INPUTS_AMBIGUOUS_METADATA = Status(
    500, "Multiple nodes connected to the same pipeline input require different tensor metadata"
)
FORBIDDEN_MODEL_DYNAMIC_PARAMETER = Status(500, "Value of provided parameter is forbidden")
PIPELINE_STRING_DEMUILTIPLICATION_UNSUPPORTED = Status(500, "Demultiplication is not supported for string precision")
PIPELINE_DEMULTIPLEXER_NO_RESULTS = Status(204, "Pipeline execution aborted due to no content from custom node")
# Custom nodes (src/custom_node_interface.h; unmapped: 500 over REST, UNKNOWN over gRPC)
PIPELINE_DEFINITION_INVALID_NODE_LIBRARY = Status(500, "Pipeline refers to incorrect library")
NODE_LIBRARY_INITIALIZE_FAILED = Status(500, "Failure during custom node library initialization")
NODE_LIBRARY_LOAD_FAILED_OPEN = Status(500, "Custom node library failed to open")
NODE_LIBRARY_LOAD_FAILED_SYM = Status(500, "Custom node library failed to load symbol")
NODE_LIBRARY_MISSING_OUTPUT = Status(500, "Custom node output is missing")
NODE_LIBRARY_EXECUTION_FAILED = Status(500, "Custom node failed during execution")
NODE_LIBRARY_OUTPUTS_CORRUPTED = Status(500, "Custom node library has returned corrupted outputs handle")
NODE_LIBRARY_OUTPUTS_CORRUPTED_COUNT = Status(500, "Custom node library has produced corrupted number of outputs")
NODE_LIBRARY_INVALID_PRECISION = Status(500, "Custom node has produced tensor with unspecified precision")
NODE_LIBRARY_INVALID_SHAPE = Status(500, "Custom node has produced tensor with not matching shape")
NODE_LIBRARY_INVALID_CONTENT_SIZE = Status(500, "Custom node output has invalid content size")
NODE_LIBRARY_METADATA_FAILED = Status(500, "Custom node failed on metadata call")
NODE_LIBRARY_OUTPUT_MISSING_NAME = Status(500, "Custom node output is missing name")
# Binary (encoded image) inputs (src/tensor_conversion.hpp).
IMAGE_PARSING_FAILED = Status(500, "Image parsing failed")
UNSUPPORTED_LAYOUT = Status(400, "Received binary image input but resource not configured to accept NHWC layout")
INVALID_NO_OF_CHANNELS = Status(400, "Invalid number of channels in binary input")
BINARY_IMAGES_RESOLUTION_MISMATCH = Status(
    400, "Binary input images for this endpoint are required to have the same resolution"
)
STRING_VAL_EMPTY = Status(400, "String val is empty")
BYTES_CONTENTS_EMPTY = Status(400, "Bytes contents is empty")
INTERNAL_ERROR = Status(500, "Internal server error")
OV_INTERNAL_INFERENCE_ERROR = Status(500, "Internal inference error")
SERVER_NOT_READY = Status(503, "Server is not ready")
# Config endpoints (seed texts; HTTP codes from the reference, section 2).
CONFIG_FILE_TIMESTAMP_READING_FAILED = Status(500, "Config file not found or cannot open.")
CONFIG_RELOAD_FAILED = Status(500, "Reloading config file failed. Check server logs for more info.")
MODEL_VERSIONS_RELOAD_FAILED = Status(500, "Reloading models versions failed. Check server logs for more info.")
# config.json entries rejected at load (logged; the reload answers CONFIG_RELOAD_FAILED)
MODEL_NAME_DUPLICATE = Status(500, "Model with the same name already exists")
MODEL_CONFIG_INVALID = Status(500, "Invalid model configuration")
MODEL_NAME_OCCUPIED = Status(500, "Given model name is already occupied")
# an API group protected by --api_key_file / API_KEY without the right "Authorization: Bearer"
# (OVMS's text for its /v3 key check; 401 and UNAUTHENTICATED, which OVMS's HTTP table lacks)
UNAUTHORIZED = Status(401, "Unauthorized request due to invalid or missing api-key")
# ovserve's own conditions, which OVMS has no text for.
REQUEST_TOO_LARGE = Status(413, "Request body is larger than the configured limit")
TENSORS_TOO_LARGE = Status(413, "Request tensors are larger than the shared-memory arena (--shm_arena_mb)")
SERVER_OVERLOADED = Status(503, "Server is overloaded: no free capacity for this request, retry later")
WORKER_UNAVAILABLE = Status(503, "The worker serving this model version stopped; retry the request")
DEADLINE_EXCEEDED = Status(504, "Request deadline exceeded before inference finished")
INTAKE_FULL = Status(503, "Server is busy receiving other large requests: retry later")
INTAKE_TOO_LARGE = Status(413, "Request body needs more memory to decode than this server allows (--max_intake_mb)")
GRPC_QUOTA_FULL = Status(503, "Server is busy receiving other large messages: retry later (--grpc_memory_quota)")
GRPC_QUOTA_TOO_SMALL = Status(413, "Request message is larger than this server's --grpc_memory_quota allows")
SHARED_MEMORY_FULL = Status(503, "Shared memory (/dev/shm) is full: no room for this request's tensors, retry later")
TOO_MANY_CONNECTIONS = Status(503, "Too many open connections to this server: retry later")
READ_TIMEOUT = Status(408, "Request Timeout: the request was not received in time")
HTTP_BAD_REQUEST = Status(400, "Bad Request: not a valid HTTP/1.1 request")
HEAD_TOO_LARGE = Status(431, "Request header fields are larger than this server allows")


class OvmsError(Exception):
    """An error answered to the client as ``{"error": "<message>"}`` with ``status.http``."""

    def __init__(self, status: Status, details: str = "") -> None:
        self.status = status
        self.details = details
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if self.details:
            return f"{self.status.message} - {self.details}"
        return self.status.message

    @property
    def http(self) -> int:
        return self.status.http


MODEL_SPEC_MISSING = Status(400, "model_spec missing in request")
INVALID_SIGNATURE_DEF = Status(400, "Invalid signature name")
MODEL_VERSION_INVALID_FORMAT = Status(400, "invalid model version format in request")

BY_NAME: dict[str, Status] = {k: v for k, v in globals().items() if isinstance(v, Status)}
NAME_OF: dict[Status, str] = {v: k for k, v in BY_NAME.items()}

# gRPC code of each status, as OVMS's src/grpc_utils.cpp maps them: any status not
# listed reaches a gRPC client as UNKNOWN "Unknown error" (OVMS drops the real text). The last
# group is ovserve's own conditions.
_GRPC_GROUPS: dict[str, tuple[Status, ...]] = {
    "OK": (OK, OK_NOT_RELOADED, OK_RELOADED),
    "INTERNAL": (OV_INTERNAL_INFERENCE_ERROR, INTERNAL_ERROR, UNSUPPORTED_SERIALIZATION_PRECISION),
    "FAILED_PRECONDITION": (JSON_INVALID,),
    "NOT_FOUND": (
        MODEL_NAME_MISSING,
        MEDIAPIPE_DEFINITION_NAME_MISSING,
        MODEL_VERSION_MISSING,
        MODEL_VERSION_NOT_LOADED_ANYMORE,
        PIPELINE_DEFINITION_NAME_MISSING,
        PIPELINE_DEFINITION_NOT_LOADED_ANYMORE,
    ),
    "INVALID_ARGUMENT": (
        MODEL_SPEC_MISSING,
        INVALID_SIGNATURE_DEF,
        MODEL_VERSION_INVALID_FORMAT,
        PATH_INVALID,
        INVALID_NO_OF_INPUTS,
        INVALID_MISSING_INPUT,
        INVALID_NO_OF_SHAPE_DIMENSIONS,
        INVALID_BATCH_SIZE,
        INVALID_SHAPE,
        INVALID_INPUT_FORMAT,
        INVALID_PRECISION,
        INVALID_VALUE_COUNT,
        INVALID_CONTENT_SIZE,
        INVALID_MESSAGE_STRUCTURE,
        UNSUPPORTED_LAYOUT,
        INVALID_NO_OF_CHANNELS,
        BINARY_IMAGES_RESOLUTION_MISMATCH,
        STRING_VAL_EMPTY,
        BYTES_CONTENTS_EMPTY,
    ),
    "UNAVAILABLE": (
        MODEL_VERSION_NOT_LOADED_YET,
        PIPELINE_DEFINITION_NOT_LOADED_YET,
        SERVER_NOT_READY,
        SERVER_OVERLOADED,
        WORKER_UNAVAILABLE,
        INTAKE_FULL,
        TOO_MANY_CONNECTIONS,
        SHARED_MEMORY_FULL,
    ),
    "DEADLINE_EXCEEDED": (DEADLINE_EXCEEDED,),
    "UNAUTHENTICATED": (UNAUTHORIZED,),
    "ABORTED": (PIPELINE_DEMULTIPLEXER_NO_RESULTS,),
    "RESOURCE_EXHAUSTED": (
        REQUEST_TOO_LARGE,
        TENSORS_TOO_LARGE,
        INTAKE_TOO_LARGE,
        GRPC_QUOTA_FULL,
        GRPC_QUOTA_TOO_SMALL,
    ),
}
GRPC_CODE: dict[Status, str] = {status: code for code, group in _GRPC_GROUPS.items() for status in group}
GRPC_UNMAPPED = ("UNKNOWN", "Unknown error")
# a gRPC message that does not parse, as OVMS's C++ server answers it:
# Status(INTERNAL, msg->InitializationErrorString()), which is empty for proto3 messages
GRPC_UNPARSABLE = ("INTERNAL", "")


def answered_with(http: int, status: Status) -> Status:
    """``status``'s text with another HTTP code: OVMS answers a failed reload with the code of
    what failed (an invalid file 412, a missing base path 400) and the reload's own text."""
    return Status(http, status.message)


# Details of statuses that ovserve words itself (OVMS's own fails differently or not at all).
STRINGS_TOO_LARGE = "strings over 1 GB in total"
BINARY_SHAPE_OVERFLOW = "Binary input shape dimensions overflow size_t"


def grpc_status(error: OvmsError) -> tuple[str, str]:
    """(gRPC code name, message) a gRPC client gets for ``error``."""
    code = GRPC_CODE.get(error.status)
    return (code, error.message) if code is not None else GRPC_UNMAPPED
