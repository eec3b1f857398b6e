"""`[mcp.servers.NAME]`: what is accepted, what is refused in one line, what stays secret."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from voiced.config import ConfigError, load_settings, masked, secret_values
from voiced.logs import Redact


def settings_from(tmp_path: Path, toml: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(toml)
    return load_settings(path)


def test_a_home_assistant_server_keeps_its_token_secret(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, '''
[mcp.servers.home]
url = "http://homeassistant.local:8123/mcp_server/sse"
confirm = ["HassTurnOff"]
[mcp.servers.home.headers]
Authorization = "Bearer llat-secret"
[mcp.servers.notes]
command = ["notes-mcp", "--stdio"]
secret_env = { NOTES_TOKEN = "env-secret" }
''')
    home = settings.mcp.servers["home"]
    assert home.uses_sse and not settings.mcp.servers["notes"].uses_sse
    assert {"Bearer llat-secret", "env-secret"} <= set(secret_values(settings))
    shown = masked(settings)["mcp"]["servers"]
    assert shown["home"]["headers"]["Authorization"] == "**********"
    assert shown["notes"]["secret_env"]["NOTES_TOKEN"] == "**********"
    assert "llat-secret" not in repr(settings) and "llat-secret" not in str(shown)
    assert "env-secret" not in repr(settings) and "env-secret" not in str(shown)


def test_plain_env_is_shown_and_not_redacted_from_the_logs(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, '''
[mcp.servers.notes]
command = ["notes-mcp", "--stdio"]
env = { NOTES_DIR = "/home/me/notes", NOTES_VERBOSE = "true" }
secret_env = { NOTES_TOKEN = "tok-secret" }
''')
    notes = settings.mcp.servers["notes"]
    assert notes.environment == {"NOTES_DIR": "/home/me/notes", "NOTES_VERBOSE": "true",
                                 "NOTES_TOKEN": "tok-secret"}
    assert masked(settings)["mcp"]["servers"]["notes"]["env"] == {"NOTES_DIR": "/home/me/notes",
                                                                  "NOTES_VERBOSE": "true"}
    redact = Redact(secret_values(settings))
    record = logging.LogRecord("voiced", logging.INFO, __file__, 1, "%s: true to /home/me/notes with %s",
                               ("plugin", "tok-secret"), None)
    redact.redact(record)
    assert record.getMessage() == "plugin: true to /home/me/notes with ***"


@pytest.mark.parametrize(("toml", "message"), [
    ('[mcp.servers.x]\ntools = ["a"]\n', "give either command (a stdio server) or url (an HTTP server)"),
    ('[mcp.servers.x]\ncommand = ["a"]\nurl = "https://h/mcp"\n', "give either command"),
    ('[mcp.servers.x]\nurl = "ftp://h/mcp"\n', "url must start with http:// or https://"),
    ('[mcp.servers.x]\nurl = "https://h/mcp"\nenv = { A = "b" }\n', "env and secret_env are for a command"),
    ('[mcp.servers.x]\nurl = "https://h/mcp"\nsecret_env = { A = "b" }\n', "are for a command"),
    ('[mcp.servers.x]\ncommand = ["a"]\nenv = { A = "b" }\nsecret_env = { A = "c" }\n',
     "A: in both env and secret_env"),
    ('[mcp.servers.x]\ncommand = ["a"]\nheaders = { A = "b" }\n', "headers are for a url"),
    ('[mcp.servers."two words"]\ncommand = ["a"]\n', "mcp.servers.two words"),
    ('[mcp.servers.x]\ncommand = []\n', "mcp.servers.x.command"),
    ('[mcp.servers.x]\ncommand = ["a"]\nconfrim = ["b"]\n', "mcp.servers.x.confrim"),
])
def test_a_bad_server_table_is_one_clear_line(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        settings_from(tmp_path, toml)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
