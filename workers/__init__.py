"""Worker processes: each owns an OpenVINO Core and the compiled models it was told to load."""

from ovserve.shared.openvino_quiet import keep_openvino_quiet

keep_openvino_quiet()  # every worker-role process imports this package before openvino
