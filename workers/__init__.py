"""Worker processes: each owns an OpenVINO Core and the compiled models it was told to load."""
