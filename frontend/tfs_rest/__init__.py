"""TensorFlow Serving REST dialect of OVMS (``/v1/...``) and the config endpoints."""
