"""The HTTP/1.1 transport of the REST port: connections, limits, answers, OVMS's URL routing."""
