"""Config reloads as the supervisor runs them (OVMS's flow): re-read the config file (config
mode: when its content changed or the last load failed) and apply it, rescan every model's
version folders, send the orders at once, and answer each reload once its loads have settled."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ovserve.config_source import ConfigSource
from ovserve.registry import Order, Registry
from ovserve.reload_ticket import ReloadTicket
from ovserve.sdnotify import Notifier
from ovserve.settings import Settings
from ovserve.shared import errors as E
from ovserve.shared.config_file import ParsedConfig
from ovserve.shared.pipeline_config import DL_MODEL
from ovserve.shared.wording import count

log = logging.getLogger("ovserve.supervisor")
Answer = tuple[bytes, int, int, str | None]  # (front, request id, HTTP code, error message)


class Reloads:
    def __init__(
        self, settings: Settings, registry: Registry, notify: Notifier, send_orders: Callable[[list[Order]], None]
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.notify = notify
        self.send_orders = send_orders
        self.config = ConfigSource(settings.config_path or "")
        self.waiting: list[ReloadTicket] = []  # reloads to answer once their loads settle

    def start(self, serving: bool, announce: bool = True) -> ReloadTicket:
        """Apply what changed; the ticket is answered when its orders have settled."""
        ticket = ReloadTicket()
        if serving and announce:
            self.notify.reloading()
            ticket.announced = True
        first_load = len(self.registry.load_log)
        if self.settings.config_path is not None:
            self._apply_config(ticket)
            if ticket.error is not None and not ticket.config_changed:
                return ticket  # unreadable or invalid file: nothing was applied
        orders, changed, failed = self.registry.rescan()
        self.send_orders(orders)
        ticket.changed = ticket.changed or changed
        if failed and ticket.error is None:
            ticket.error = E.answered_with(E.PATH_INVALID.http, E.MODEL_VERSIONS_RELOAD_FAILED)
        ticket.started = self.registry.load_log[first_load:]
        return ticket

    def _apply_config(self, ticket: ReloadTicket) -> None:
        read = self.config.read()
        if read.error is not None:
            ticket.error = read.error
        if read.parsed is None:
            return  # unchanged, unreadable or invalid: nothing to apply
        parsed = read.parsed
        if not read.retry:
            log.info("config file %s: applying %s", self.config.path, count(len(parsed.models), "model"))
        gated = self._gated(parsed)
        occupied = self._occupied(parsed, quiet=read.retry)
        if gated or occupied:
            ticket.error = ticket.error or E.CONFIG_RELOAD_FAILED
            self.config.failed = True  # retried at the next reload or poll
        models = [m for m in parsed.models if m.name not in gated and m.name not in occupied]
        self.send_orders(self.registry.set_models(models, parsed.skipped | gated | occupied))
        pipelines = self.registry.pipelines
        if pipelines.set_pipelines(parsed.pipelines) | pipelines.libraries.set_paths(parsed.libraries):
            self.registry.changed()  # validated (and published) once the loads settle
        ticket.changed = ticket.config_changed = True

    def _occupied(self, parsed: ParsedConfig, quiet: bool) -> set[str]:
        """Models named as a pipeline the server knows (serving, failed or retired: OVMS never
        forgets a definition): refused, and the pipeline keeps its name (src/modelmanager.cpp)."""
        known, models = self.registry.pipelines.records, self.registry.models

        def live_model(name: str) -> bool:  # then the pipeline is the newcomer, refused at validation
            return name in models and not models[name].removed

        occupied = {m.name for m in parsed.models if m.name in known and not live_model(m.name)}
        for name in sorted(occupied) if not quiet else ():
            log.error("Model name: %s is already occupied by pipeline or mediapipe graph definition.", name)
        return occupied

    def _gated(self, parsed: ParsedConfig) -> set[str]:
        """Models whose new config sets ``auto`` while a pipeline of the same file uses them:
        their old config stays (OVMS's gated model changes; applied once no pipeline uses them)."""
        used = {n.model for p in parsed.pipelines for n in p.nodes if n.kind == DL_MODEL}
        gated = set()
        for config in parsed.models:
            record = self.registry.models.get(config.name)
            if not (config.name in used and config.uses_auto and record is not None and not record.removed):
                continue
            if record.config != config:
                log.error("Requested dynamic parameters but model is used in pipeline: %s", config.name)
                gated.add(config.name)
        return gated

    def settled(self, serving: bool) -> list[Answer] | None:
        """The answers of the waiting reloads once every load has settled, else None."""
        if not self.waiting or not self.registry.settled:
            return None
        if serving and any(t.announced for t in self.waiting):
            self.notify.ready()
        single_model = self.settings.config_path is None
        answers = []
        for ticket in self.waiting:
            http, error = ticket.outcome(self.registry, single_model=single_model)
            answers += [(ident, rid, http, error) for ident, rid in ticket.requesters]
        self.waiting.clear()
        return answers
