"""``voicectl doctor``: can voiced work here? One line a check, and what to do about each failure.

The checks look, they do not change anything: the config file, the API key (never shown
whole, never sent), the daemon, the sound server, the two devices (opened briefly in
this process), the Realtime endpoint (a TCP connect and, for https, a TLS handshake),
and the plugins (from the running daemon, else imported here without being started).
Everything has a short timeout, so the report comes within a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import sys
import threading
import time
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from . import client, paths
from .check import Check
from .config import quiet_voiced_logs
from .doctor_sound import PortAudio, check_device, check_sound_server, quiet_stderr
from .request_commands import printable, to_json

DAEMON_TIMEOUT_S = 2.0
ENDPOINT_TIMEOUT_S = 3.0
"""How long an opened device stream runs before it is closed again."""

PLUGIN_TROUBLE = ("failed to load", "failed config", "failing", "disabled after failures")


# -- config and key ------------------------------------------------------------------


def check_config() -> tuple[Check, Any]:
    """The config file in use, and the settings to check the rest with (defaults if broken)."""
    from voiced.config import ConfigError, Settings, default_config_path, load_settings

    path = default_config_path()
    try:
        settings = load_settings()
    except ConfigError as exc:
        fix = "correct it (voicectl config show names the problem), or start over: " \
            "voicectl config init --force"
        return Check("config", False, str(exc), fix), Settings.model_construct()
    if not path.is_file():
        detail = f"{path} does not exist: built-in defaults (voicectl config init)"
        return Check("config", True, detail), settings
    return Check("config", True, f"{path}: valid"), settings


def masked_key(key: str) -> str:
    """``sk-...`` and the last four characters; a short key shows nothing of itself."""
    if len(key) < 12:
        return "*" * 8
    prefix = "sk-" if key.startswith("sk-") else ""
    return f"{prefix}...{key[-4:]}"


def check_key(settings: Any, status: dict[str, Any] | None) -> Check:
    key = settings.api.key.get_secret_value() if settings.api.key is not None else None
    # With a broken config the settings are the defaults: the environment may still hold a key.
    key = key or os.environ.get("VOICED_API__KEY") or os.environ.get("OPENAI_API_KEY")
    if key:
        if os.environ.get("VOICED_API__KEY"):
            source = "VOICED_API__KEY"
        elif os.environ.get("OPENAI_API_KEY"):
            source = "OPENAI_API_KEY"
        else:
            source = "the config file or .env"
        return Check("api key", True, f"{masked_key(key)} (from {source})")
    detail = "none (voiced --simulate works without one)"
    simulated = bool(status and (status.get("session") or {}).get("simulated"))
    if simulated:
        return Check("api key", True, detail + "; the running voiced is simulated")
    return Check(
        "api key",
        False,
        detail,
        "export OPENAI_API_KEY=sk-... (e.g. in ~/.config/environment.d/), "
        "or voicectl config set api.key -",
    )


# -- daemon --------------------------------------------------------------------------


def check_daemon(socket_option: str | None) -> tuple[Check, dict[str, Any] | None, str | None]:
    """Whether voiced answers on its socket; its status and the socket path when it does."""
    try:
        path = paths.socket_path(socket_option)
    except paths.ConfigError as exc:
        return Check("daemon", False, str(exc), "fix the config file (voicectl config show)"), None, None
    start = "start it: voiced (or systemctl --user start voiced)"
    try:
        status = client.request(path, "status", timeout=DAEMON_TIMEOUT_S)
    except client.DaemonUnreachable as exc:
        if exc.not_running:
            return Check("daemon", False, f"not running ({exc.reason} at {path})", start), None, path
        return Check("daemon", False, str(exc), f"is another user's voiced at {path}? {start}"), None, path
    except client.DaemonError as exc:
        detail = f"status failed: {exc.message}"
        return Check("daemon", False, detail, "journalctl --user -u voiced"), None, path
    if not isinstance(status, dict):
        status = {}
    state = status.get("state", "?")
    facts = [f"state {state}"]
    if status.get("pid"):
        facts.insert(0, f"pid {status['pid']}")
    if (status.get("session") or {}).get("simulated"):
        facts.append("simulated")
    detail = f"running at {path} ({', '.join(facts)})"
    if state == "error":
        why = status.get("error") or "see its log"
        return Check("daemon", False, f"{detail}: {why}", "journalctl --user -u voiced; voicectl restart"), \
            status, path
    return Check("daemon", True, detail), status, path


# -- endpoint ------------------------------------------------------------------------


def check_endpoint(base_url: str, timeout: float = ENDPOINT_TIMEOUT_S) -> Check:
    """A TCP connect to api.base_url's host and port, and a TLS handshake for https/wss.

    Nothing is sent over the connection: not the key, not a request.
    """
    name = "endpoint"
    fix = (
        "check the network (proxy, firewall?) and api.base_url (VOICED_API__BASE_URL); "
        "voiced --simulate needs no network"
    )
    try:
        parts = urlsplit(base_url)
        scheme, host, port = parts.scheme, parts.hostname, parts.port
    except ValueError as exc:
        return Check(name, False, f"api.base_url {base_url!r}: {exc}", fix)
    if scheme not in ("http", "https", "ws", "wss") or not host:
        return Check(name, False, f"api.base_url {base_url!r} is not an http(s):// URL",
                     "voicectl config set api.base_url https://api.openai.com/v1")
    tls = scheme in ("https", "wss")
    port = port or (443 if tls else 80)
    where = f"{host}:{port}"
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if tls:
                context = ssl.create_default_context()
                with context.wrap_socket(sock, server_hostname=host):
                    pass
    except socket.gaierror as exc:
        return Check(name, False, f"{base_url}: cannot resolve {host} ({exc.strerror})", fix)
    except ssl.SSLCertVerificationError as exc:
        return Check(name, False, f"{base_url}: TLS certificate not trusted ({exc.verify_message})",
                     "a proxy intercepting TLS? set SSL_CERT_FILE to its CA, or fix api.base_url")
    except ssl.SSLError as exc:
        return Check(name, False, f"{base_url}: TLS handshake with {where} failed ({exc.reason})", fix)
    except TimeoutError:
        return Check(name, False, f"{base_url}: no answer from {where} within {timeout:g} s", fix)
    except OSError as exc:
        return Check(name, False, f"{base_url}: cannot connect to {where} ({exc.strerror or exc})", fix)
    elapsed = (time.monotonic() - started) * 1000
    how = "TCP and TLS" if tls else "TCP"
    return Check(name, True, f"{base_url}: {where} reachable ({how}, {elapsed:.0f} ms; nothing sent)")


class _InBackground:
    """Run a check in a thread while the others go on (the endpoint may be slow to answer)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.result: Check | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.result = check_endpoint(self.base_url)

    def wait(self) -> Check:
        # create_connection's timeout does not cover name resolution: bound the whole check.
        self._thread.join(ENDPOINT_TIMEOUT_S * 2)
        if self.result is None:
            return Check("endpoint", False, f"{self.base_url}: no answer (name lookup hangs?)",
                         "check DNS and the network")
        return self.result


# -- plugins -------------------------------------------------------------------------


def plugin_records(settings: Any, socket_path: str | None, running: bool) -> tuple[list[dict[str, Any]], str]:
    """Each plugin's status dict, from the running daemon, else loaded here (not started)."""
    if running and socket_path is not None:
        try:
            result = client.request(socket_path, "plugins", timeout=DAEMON_TIMEOUT_S)
            records = result.get("plugins", []) if isinstance(result, dict) else result
            if isinstance(records, list):
                return [r for r in records if isinstance(r, dict)], "as the running voiced reports them"
        except (client.DaemonUnreachable, client.DaemonError):
            pass
    from voiced.plugin_host import PluginHost

    quiet_voiced_logs()  # failures are in the records, not on stderr
    host = PluginHost(settings)
    with contextlib.redirect_stdout(sys.stderr), quiet_stderr():  # a plugin that prints at import
        host.load()
    return host.status(), "imported here, not started (voiced is not running)"


def check_plugins(settings: Any, socket_path: str | None, running: bool) -> list[Check]:
    try:
        records, source = plugin_records(settings, socket_path, running)
    except Exception as exc:  # the plugin host itself failed: report it like any other check
        return [Check("plugins", False, f"cannot list the plugins: {exc}", "voicectl plugins")]
    enabled = [r["name"] for r in records if r.get("status") == "enabled"]
    disabled = [r["name"] for r in records if r.get("status") == "disabled"]
    summary = f"{len(enabled)} enabled ({', '.join(enabled) or 'none'})"
    if disabled:
        summary += f", disabled: {', '.join(disabled)}"
    checks = [Check("plugins", True, f"{summary}; {source}")]
    for record in records:
        status = record.get("status")
        if status in PLUGIN_TROUBLE:
            plugin = record.get("name")
            checks.append(Check(
                f"plugin {plugin}",
                False,
                f"{status}: {record.get('last_error') or 'no error recorded'}",
                f"fix [plugins.{plugin}] or the plugin ({record.get('location')}), "
                f"or turn it off: voicectl config set plugins.{plugin}.enabled false",
            ))
        line = record.get("status_line")
        if isinstance(line, dict) and line.get("ok") is False:
            plugin = record.get("name")
            checks.append(Check(f"plugin {plugin}", False, str(line.get("text")),
                                f"see the {plugin} plugin's settings in the README"))
    return checks


# -- the report ----------------------------------------------------------------------


def run_checks(socket_option: str | None = None) -> list[Check]:
    """Every check, in the order the report shows them."""
    config, settings = check_config()
    endpoint = _InBackground(settings.api.base_url)
    daemon, status, socket_path = check_daemon(socket_option)
    running = status is not None
    checks = [config, check_key(settings, status), daemon]
    portaudio = PortAudio()
    try:
        checks.append(check_sound_server(portaudio))
        checks += [check_device(portaudio, settings, direction, running) for direction in ("input", "output")]
    finally:
        portaudio.close()
    checks.append(endpoint.wait())
    checks += check_plugins(settings, socket_path, running)
    return checks


def _fancy() -> bool:
    encoding = (sys.stdout.encoding or "").lower().replace("-", "")
    return sys.stdout.isatty() and encoding == "utf8"


def format_report(checks: list[Check], *, fancy: bool) -> str:
    """One line a check (``✓``/``✗`` in a terminal, else ``ok``/``FAIL``), a fix line under a failure."""
    width = max(len(c.check) for c in checks) + 2
    marks = {True: "✓", False: "✗"} if fancy else {True: "ok  ", False: "FAIL"}
    lines = []
    for check in checks:
        lines.append(f"{marks[check.ok]} {check.check:<{width}}{check.detail}")
        if not check.ok and check.fix:
            lines.append(f"{' ' * (len(marks[False]) + 1 + width)}fix: {check.fix}")
    failed = sum(not c.ok for c in checks)
    total = len(checks)
    lines.append(f"{failed} of {total} checks failed" if failed else f"all {total} checks passed")
    return "\n".join(lines)


def run_doctor(*, socket: str | None = None, as_json: bool = False) -> int:
    """``doctor``: print the report; exit 0 when every check passed, else 1."""
    checks = run_checks(socket)
    ok = all(check.ok for check in checks)
    if as_json:
        print(to_json({"ok": ok, "checks": [asdict(c) for c in checks]}, pretty=True))
    else:  # details quote the daemon, plugins and servers: no control sequences reach the terminal
        print(printable(format_report(checks, fancy=_fancy())))
    return 0 if ok else 1
