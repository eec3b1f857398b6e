"""The methods the control socket offers, and answering one line with them.

The daemon (and, through ``voiced_rpc_methods``, plugins as ``NAME.method``) add
methods here; the server only moves bytes. Params are validated with the method's
pydantic model: by name (a JSON object), or by position (a JSON array, mapped onto
the model's fields in the order they are declared, so ``["hello"]`` works for
``say``). A method without a params model accepts no params, or empty ones.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pydantic

from . import jsonrpc
from .connection import ClientConnection
from .jsonrpc import RpcError

log = logging.getLogger("voiced.control")

Handler = Callable[[Any, ClientConnection], Awaitable[Any]]
H = TypeVar("H", bound=Handler)

# Dotted names so plugins can add "NAME.method"; "rpc." is reserved by JSON-RPC.
_METHOD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*\Z")


@dataclass(frozen=True)
class Method:
    name: str
    handler: Handler
    params: type[pydantic.BaseModel] | None
    summary: str

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "params": self.params.model_json_schema() if self.params else None,
        }


def summary_of(handler: Callable[..., Any]) -> str:
    """The first line of `handler`'s docstring ("" without one): a method's default summary."""
    doc = (getattr(handler, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def _readable(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(part) for part in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)


class MethodRegistry:
    """Named methods, each an async handler with an optional pydantic params model."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}
        self.add("describe", self._describe, summary="Every method with its summary and params.")

    def add(
        self,
        name: str,
        handler: Handler,
        params: type[pydantic.BaseModel] | None = None,
        summary: str = "",
    ) -> None:
        """Offer ``name``; ``handler(params_or_None, client)`` returns the JSON result.

        The summary defaults to the first line of the handler's docstring. Raises
        ValueError for a malformed or reserved name, or one that is already taken.
        """
        if not _METHOD_NAME.match(name) or name.startswith("rpc."):
            raise ValueError(f"not a usable method name: {name!r}")
        if name in self._methods:
            raise ValueError(f"method {name!r} is already registered")
        self._methods[name] = Method(name, handler, params, summary or summary_of(handler))

    def method(
        self, name: str, params: type[pydantic.BaseModel] | None = None, summary: str = ""
    ) -> Callable[[H], H]:
        """Decorator form of ``add``: ``@methods.method("say", SayParams)``."""

        def register(handler: H) -> H:
            self.add(name, handler, params, summary)
            return handler

        return register

    def remove(self, name: str) -> None:
        """Withdraw `name` (a plugin's method, when plugins are reloaded); absent is fine."""
        self._methods.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def names(self) -> list[str]:
        return sorted(self._methods)

    def describe(self) -> list[dict[str, Any]]:
        """Every method with its summary and params, as `describe` answers (the docs read it too)."""
        return [self._methods[name].describe() for name in self.names()]

    async def _describe(self, params: None, client: ClientConnection) -> dict[str, Any]:
        return {"methods": self.describe()}

    def _validate(self, method: Method, params: dict[str, Any] | list[Any] | None) -> Any:
        if method.params is None:
            if params:
                raise RpcError(jsonrpc.INVALID_PARAMS, f"invalid params: {method.name} takes none")
            return None
        if isinstance(params, list):
            fields = [field.alias or name for name, field in method.params.model_fields.items()]
            if len(params) > len(fields):
                raise RpcError(
                    jsonrpc.INVALID_PARAMS,
                    f"invalid params: {method.name} takes at most {len(fields)} positional "
                    f"params ({', '.join(fields) or 'none'})",
                )
            params = dict(zip(fields, params, strict=False))  # fewer is fine: defaults
        try:
            return method.params.model_validate(params or {})
        except pydantic.ValidationError as exc:
            # No "input" in the reply or the log: params may hold what the user said.
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            details = [
                {"loc": [str(part) for part in e["loc"]], "msg": e["msg"], "type": e["type"]} for e in errors
            ]
            raise RpcError(jsonrpc.INVALID_PARAMS, f"invalid params: {_readable(details)}", details) from None

    async def call(self, request: jsonrpc.Request, client: ClientConnection) -> dict[str, Any]:
        """Run one request and return its response (never raises for handler errors)."""
        method = self._methods.get(request.method)
        try:
            if method is None:
                raise RpcError(jsonrpc.METHOD_NOT_FOUND, f"unknown method: {request.method}")
            params = self._validate(method, request.params)
            result = await method.handler(params, client)
        except RpcError as exc:
            log.debug("%s: %s -> error %s", client, request.method, exc.code)
            return jsonrpc.error_response(request.id, exc)
        except Exception:
            log.exception("control method %s failed", request.method)
            return jsonrpc.error_response(request.id, RpcError(jsonrpc.INTERNAL_ERROR, "internal error"))
        log.debug("%s: %s -> ok", client, request.method)
        return jsonrpc.result_response(request.id, result)

    async def answer(self, line: bytes, client: ClientConnection) -> bytes | None:
        """Answer one line from a client: the reply line, or None when none is due.

        No reply is due for a blank line or a notification (even a failing one).
        """
        try:
            request = jsonrpc.parse_request(line)
        except jsonrpc.BadRequest as exc:
            log.debug("%s: bad line: %s", client, exc.message)
            return jsonrpc.encode(jsonrpc.error_response(exc.request_id, exc))
        if request is None:
            return None
        response = await self.call(request, client)
        if request.is_notification:
            return None
        try:
            return jsonrpc.encode(response)
        except (TypeError, ValueError):
            log.exception("control method %s returned something that is not JSON", request.method)
            error = RpcError(jsonrpc.INTERNAL_ERROR, "internal error")
            return jsonrpc.encode(jsonrpc.error_response(request.id, error))
