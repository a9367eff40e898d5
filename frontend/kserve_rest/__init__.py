"""KServe v2 / Open Inference Protocol REST dialect of OVMS (``/v2/...``), JSON and binary."""
