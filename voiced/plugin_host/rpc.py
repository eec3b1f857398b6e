"""The plugins' control-socket methods (`NAME.method`) and the `plugins` method."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from voiced.control.connection import ClientConnection
from voiced.control.jsonrpc import RpcError
from voiced.control.methods import Handler, MethodRegistry, summary_of

from .api import RpcMethod
from .calling import PluginCalls
from .discovery import PluginRecord, one_line
from .tools import Impls, offered

log = logging.getLogger("voiced.plugins")

PLUGIN_ERROR = -32010
"""Control-socket error: a plugin's method failed or its plugin is disabled."""


class Methods:
    """Each plugin method under its full name, with the plugin offering it."""

    def __init__(self, calls: PluginCalls, timeout: float) -> None:
        """`timeout`: seconds a method's handler may take."""
        self._calls = calls
        self._timeout = timeout
        self._methods: list[tuple[PluginRecord, str, RpcMethod]] = []

    async def collect(self, impls: Impls, timeout: float) -> None:
        """Ask each `voiced_rpc_methods` implementation for its methods (`timeout` seconds each).
        A method that is not an `RpcMethod`, or a bare name from a plugin that is not bundled,
        is a failure of its plugin."""
        for record, impl in impls:
            ok, found = await self._calls.call_hook(record, "voiced_rpc_methods", impl, timeout=timeout)
            if not ok:
                continue
            for item in offered(found):
                try:
                    method = item if isinstance(item, RpcMethod) else RpcMethod(**item)
                    if method.name == "" and record.source != "bundled":
                        raise ValueError("only bundled plugins may offer a method under their bare name")
                except (TypeError, ValueError) as exc:
                    self._calls.failed(record, "voiced_rpc_methods", one_line(exc))
                    continue
                full = f"{record.name}.{method.name}" if method.name else record.name
                self._methods.append((record, full, method))

    def register(self, registry: MethodRegistry, status: Callable[[], list[dict[str, Any]]]) -> None:
        """Add `plugins` (answered with `status()`) and every plugin method to `registry`. A name
        that is taken is reported against its plugin and skipped."""

        async def plugins(params: None, client: ClientConnection) -> dict[str, Any]:
            """Each plugin: source, hooks, status, failures, last error."""
            return {"plugins": status()}

        if "plugins" not in registry:
            registry.add("plugins", plugins)
        for record, full, method in self._methods:
            try:
                registry.add(full, self._handler(record, full, method), method.params,
                             method.summary or summary_of(method.handler))
            except ValueError as exc:
                record.last_error = f"voiced_rpc_methods: {exc}"
                log.error("plugin %s: %s", record.name, record.last_error)

    def unregister(self, registry: MethodRegistry) -> None:
        """Take back from `registry` what `register` added (the plugins are being reloaded)."""
        for name in ["plugins", *(full for _, full, _ in self._methods)]:
            registry.remove(name)

    def _handler(self, record: PluginRecord, full: str, method: RpcMethod) -> Handler:
        """The method's handler for the registry: it calls the plugin isolated and answers a
        failure, or a plugin that is no longer active, with an RpcError."""

        async def handler(params: Any, client: ClientConnection) -> Any:
            data = {"plugin": record.name}
            if not record.active:
                raise RpcError(PLUGIN_ERROR, f"plugin {record.name} is {record.status}", data)
            ok, result = await self._calls.call(record, f"method {full}", method.handler, params,
                                                timeout=self._timeout, passthrough=(RpcError,))
            if not ok:
                raise RpcError(PLUGIN_ERROR, f"plugin {record.name} failed: {result}", data)
            return result

        handler.__doc__ = method.summary
        return handler
