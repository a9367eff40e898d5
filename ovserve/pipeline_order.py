"""The order a DAG pipeline's nodes run in (every node after its sources), with OVMS's two
graph checks: a cycle (a self-loop included), and a node the response does not reach."""

from __future__ import annotations

from ovserve.shared import errors as E
from ovserve.shared.errors import Status
from ovserve.shared.pipeline_config import ENTRY, PipelineConfig


class PipelineError(Exception):
    """A pipeline failed validation: OVMS's status and log line (raised here and by ``pipeline_check``)."""

    def __init__(self, status: Status, log_line: str) -> None:
        super().__init__(log_line)
        self.status = status
        self.log_line = log_line


def node_order(p: PipelineConfig) -> tuple[str, ...]:
    """A topological order of the nodes, or ``PipelineError`` with OVMS's status and log line."""
    deps = {n.name: {s.node for _, s in n.inputs if s.node != ENTRY} for n in p.nodes}
    for name, sources in deps.items():
        if name in sources:
            raise PipelineError(E.PIPELINE_CYCLE_FOUND, f"Node: {name} is connected to itself in pipeline: {p.name}")
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name) :]
            raise PipelineError(
                E.PIPELINE_CYCLE_FOUND, f"In pipeline: {p.name}, following nodes creates cycle: {', '.join(cycle)}"
            )
        state[name] = 1
        for dep in sorted(deps[name]):
            visit(dep, [*path, dep])
        state[name] = 2
        order.append(name)

    for node in p.nodes:
        visit(node.name, [node.name])
    reached: set[str] = set()
    todo = [s.node for _, s in p.outputs if s.node != ENTRY]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo += deps[name]
    if reached != set(deps):
        raise PipelineError(
            E.PIPELINE_CONTAINS_UNCONNECTED_NODES, f"In pipeline: {p.name}, there are not connected nodes"
        )
    return tuple(order)
