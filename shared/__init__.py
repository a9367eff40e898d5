"""Code shared by the supervisor, the fronts and the workers: wire protocol, shared memory,
model states, tensor types and the one table of OVMS status codes and error texts."""
