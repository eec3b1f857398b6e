"""Configuration precedence, key names, secrets and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voiced.config import ConfigError, load_settings, masked


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OPENAI_API_KEY", "VOICED_CONFIG", "VOICED_API__BASE_URL", "VOICED_API__MODEL",
                 "VOICED_AUDIO__INPUT_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # .env is read from the working directory
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_without_any_file() -> None:
    settings = load_settings()
    assert settings.api.model == "gpt-realtime"
    assert settings.api.base_url == "https://api.openai.com/v1"
    assert settings.audio.chunk_ms == 40
    assert settings.api.key is None


def test_precedence_toml_dotenv_env_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "c.toml", '[api]\nmodel = "from-toml"\nbase_url = "https://toml/v1"\n'
                   'timeout = 3\n[audio]\ninput_device = "toml-mic"\n')
    write(tmp_path / ".env", "VOICED_API__BASE_URL=https://dotenv/v1\nVOICED_API__MODEL=from-dotenv\n")
    monkeypatch.setenv("VOICED_API__MODEL", "from-env")
    settings = load_settings(config, audio={"input_device": "flag-mic"})
    assert settings.api.timeout == 3                      # toml over default
    assert settings.api.base_url == "https://dotenv/v1"   # .env over toml
    assert settings.api.model == "from-env"               # environment over .env
    assert settings.audio.input_device == "flag-mic"      # command line over everything


def test_openai_api_key_fills_api_key_and_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123")
    settings = load_settings()
    assert settings.api.key is not None
    assert settings.api.key.get_secret_value() == "sk-test-secret-123"
    dumped = json.dumps(masked(settings))
    assert "sk-test-secret-123" not in dumped and "**********" in dumped
    assert "sk-test-secret-123" not in repr(settings)


def test_voiced_config_env_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICED_CONFIG", str(write(tmp_path / "x.toml", "[listen]\nmode = \"wake\"\n")))
    assert load_settings().listen.mode == "wake"


@pytest.mark.parametrize(("text", "needle"), [
    ("[audio]\nchunk_ms = -1\n", "audio.chunk_ms"),
    ("[audio]\necho = \"loud\"\n", "audio.echo"),
    ("[nope]\nx = 1\n", "nope"),
    ("[audio\n", "invalid configuration"),
])
def test_bad_values_are_one_line(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path / "bad.toml", text))
    message = str(caught.value)
    assert needle in message and "\n" not in message


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml")


def test_assistant_profiles(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", '[assistant]\nvoice = "marin"\ninstructions = "base"\n'
                   '[assistants.pirate]\ninstructions = "arr"\n')
    settings = load_settings(config)
    assert settings.profile("pirate").instructions == "arr"
    assert settings.profile("pirate").voice == "marin"
    assert settings.profile().instructions == "base"
    with pytest.raises(ConfigError, match="pirate"):
        settings.profile("ninja")


def test_the_example_config_documents_every_key_with_its_default() -> None:
    from voiced.config import Settings

    example = Path(__file__).parents[2] / "config.example.toml"
    assert masked(load_settings(example)) == masked(Settings())
    text = example.read_text()
    for section, fields in Settings.model_fields.items():
        assert section in text, section
        model = fields.annotation
        for key in getattr(model, "model_fields", {}):
            assert f"{key} =" in text or f"# {key}" in text, f"{section}.{key} missing from the example"


def test_a_dotenv_file_may_hold_other_variables_and_the_openai_key(tmp_path: Path) -> None:
    write(tmp_path / ".env", "OPENAI_API_KEY=sk-from-dotenv\nEDITOR=vim\nVOICED_API__MODEL=m2\n")
    settings = load_settings()
    assert settings.api.key is not None and settings.api.key.get_secret_value() == "sk-from-dotenv"
    assert settings.api.model == "m2"


def test_the_environment_key_wins_over_the_dotenv_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / ".env", "VOICED_API__KEY=sk-dotenv\n")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-environment")
    settings = load_settings()
    assert settings.api.key is not None and settings.api.key.get_secret_value() == "sk-environment"


@pytest.mark.parametrize("url", ["ws://elsewhere/v1", "http://api.example.com/v1", "http://127.0.0.1.evil.example/v1",
                                 "ftp://example/v1", "api.openai.com/v1"])
def test_a_base_url_that_would_send_the_key_in_clear_is_refused(tmp_path: Path, url: str) -> None:
    """Guards [S]2: the key leaves as a bearer header, so plain ws:// and http:// (and any
    other scheme) are refused unless the server is on this machine."""
    write(tmp_path / ".env", f"VOICED_API__BASE_URL={url}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "api.base_url" in message and "https://" in message and "\n" not in message
    assert "Value error" not in message


@pytest.mark.parametrize("url", ["ws://127.0.0.1:8765/v1", "http://127.5.6.7/v1", "ws://[::1]:80/v1",
                                 "http://localhost:9/v1", "wss://example.com/v1", "https://api.openai.com/v1"])
def test_encrypted_or_loopback_base_urls_are_accepted(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards [S]2: the simulator and local servers keep working over plain ws:// on loopback."""
    monkeypatch.setenv("VOICED_API__BASE_URL", url)
    assert load_settings().api.base_url == url


def test_paths_are_expanded_and_taken_from_the_config_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards [S]2 and [S]14: `~` is expanded (no `./~/x.log`), and a relative path, whether
    from config.toml, `.env` or the environment, starts at the config file's folder, not at
    the working directory voiced was started from."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    folder = tmp_path / "settings"
    folder.mkdir()
    config = write(folder / "config.toml", '[logging]\nfile_path = "~/logs/voiced.log"\n'
                   '[recording]\ndir = "recordings"\n[control]\nsocket = "run/control.sock"\n')
    write(tmp_path / ".env", 'VOICED_PLUGINS__DIRS=["plugins-here", "~/mine", "/opt/voiced"]\n')
    settings = load_settings(config)
    assert settings.logging.file_path == tmp_path / "home" / "logs" / "voiced.log"
    assert settings.recording.dir == folder / "recordings"
    assert settings.control.socket == folder / "run" / "control.sock"
    assert settings.plugins.dirs == [folder / "plugins-here", tmp_path / "home" / "mine", Path("/opt/voiced")]


def test_without_a_file_relative_paths_start_at_the_default_config_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards [S]14: with no config.toml, the folder it would be in is the starting point."""
    monkeypatch.setenv("VOICED_LOGGING__FILE_PATH", "voiced.log")
    assert load_settings().logging.file_path == tmp_path / "xdg" / "voiced" / "voiced.log"
