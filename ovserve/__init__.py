"""ovserve: an OpenVINO model server speaking the OVMS / TensorFlow Serving REST API."""

__version__ = "0.1.0"
