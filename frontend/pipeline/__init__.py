"""DAG pipelines in a front: the plan from the routing table, its run, fused chains, custom nodes."""
