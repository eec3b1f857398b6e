"""``voicectl config``: path, init, set and show on real files, as a user runs them."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import forking
from voicectl.starter_config import TEXT as STARTER

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-proj-config-test-NEVER-SHOWN-1a2b"


@pytest.fixture
def config_env(env: dict[str, str], home: Path) -> dict[str, str]:
    """HOME and XDG_CONFIG_HOME in ``home``; no key from the outside."""
    clean = {k: v for k, v in env.items() if k != "OPENAI_API_KEY"}
    (home / "home").mkdir()
    return {**clean, "HOME": str(home / "home"), "XDG_CONFIG_HOME": str(home / "config")}


@pytest.fixture
def config_file(home: Path) -> Path:
    return home / "config" / "voiced" / "config.toml"


@pytest.fixture
def run(config_env: dict[str, str], home: Path) -> Any:
    """voicectl as a process, in ``home`` (so no stray .env is read); never a traceback."""

    def run(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        result = forking.run(
            [sys.executable, "-m", "voicectl", *args],
            capture_output=True,
            text=True,
            env={**config_env, **extra_env},
            cwd=home,
            timeout=30,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_starter_is_config_example_toml() -> None:
    # voicectl.starter_config is the source; regenerate the example when this fails.
    assert (REPO / "config.example.toml").read_text() == STARTER, (
        "config.example.toml and voicectl/starter_config.py differ: "
        "python -m voicectl.starter_config > config.example.toml"
    )


def test_path_names_the_file_and_whether_it_exists(run: Any, config_file: Path, home: Path) -> None:
    result = run("config", "path")
    assert result.returncode == 0
    assert result.stdout == f"{config_file}\n"
    assert "does not exist" in result.stderr
    assert json.loads(run("config", "path", "--json").stdout) == {
        "path": str(config_file), "exists": False, "from": "default"
    }
    elsewhere = home / "elsewhere.toml"
    elsewhere.write_text("")
    chosen = run("config", "path", "--json", VOICED_CONFIG=str(elsewhere))
    assert json.loads(chosen.stdout) == {"path": str(elsewhere), "exists": True, "from": "VOICED_CONFIG"}


def test_init_writes_the_starter_privately_and_will_not_overwrite(run: Any, config_file: Path) -> None:
    result = run("config", "init")
    assert (result.returncode, result.stdout) == (0, f"wrote {config_file}\n")
    assert config_file.read_text() == STARTER
    assert mode(config_file) == 0o600
    assert json.loads(run("config", "path", "--json").stdout)["exists"] is True

    config_file.write_text("debug_mode = true\n")
    again = run("config", "init")
    assert again.returncode == 1
    assert len(again.stderr.splitlines()) == 1
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert config_file.read_text() == "debug_mode = true\n"

    forced = run("config", "init", "--force")
    assert forced.returncode == 0
    assert config_file.read_text() == STARTER
    assert mode(config_file) == 0o600
    assert [p.name for p in config_file.parent.iterdir()] == ["config.toml"]  # no temporary left


def test_the_starter_loads_as_the_defaults(run: Any) -> None:
    defaults = json.loads(run("config", "show", "--json").stdout)
    assert run("config", "init").returncode == 0
    assert json.loads(run("config", "show", "--json").stdout) == defaults


def test_set_then_show_round_trip(run: Any, config_file: Path) -> None:
    assert run("config", "init").returncode == 0
    settings = [
        ("audio.input_device", "usb", "usb"),
        ("audio.output_device", "3", "3"),  # an index: a string, as the model wants
        ("listen.mode", "wake", "wake"),
        ("plugins.goodbye.action", "pause", "pause"),
        ("audio.chunk_ms", "60", 60),
        ("transcription.enabled", "false", False),
        ("plugins.disabled", '["clock"]', ["clock"]),
        ("assistant.instructions", '"Be brief."', "Be brief."),
    ]
    for key, text, _ in settings:
        result = run("config", "set", key, text)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"{key} = ") and str(config_file) in result.stdout
        assert "systemctl --user reload voiced" in result.stderr
    written = tomllib.loads(config_file.read_text())
    shown = json.loads(run("config", "show", "--json").stdout)
    for key, _, value in settings:
        section, *rest = key.split(".")
        for data in (written, shown):
            found = data[section]
            for part in rest:
                found = found[part]
            assert found == value, (key, data)
    assert written["api"]["model"] == "gpt-realtime"  # the others stay
    assert written["prices"]["gpt-realtime"]["audio_output"] == 64.0
    assert mode(config_file) == 0o600

    toml_shown = run("config", "show")
    assert toml_shown.returncode == 0
    assert toml_shown.stdout.startswith("# voiced's configuration")
    parsed = tomllib.loads(toml_shown.stdout)
    assert parsed["audio"]["input_device"] == "usb"
    assert parsed["listen"]["mode"] == "wake"
    assert "api.key" in toml_shown.stdout.splitlines()[2]  # listed as unset


def test_set_creates_the_file_and_its_folder(run: Any, config_file: Path) -> None:
    result = run("config", "set", "listen.mode", "push_to_talk", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {
        "path": str(config_file), "key": "listen.mode", "value": "push_to_talk"
    }
    assert tomllib.loads(config_file.read_text()) == {"listen": {"mode": "push_to_talk"}}
    assert mode(config_file) == 0o600


def test_secrets_are_masked(run: Any, config_file: Path) -> None:
    result = run("config", "set", "api.key", KEY)
    assert result.returncode == 0
    assert KEY not in result.stdout + result.stderr
    assert "api.key = **********" in result.stdout
    assert tomllib.loads(config_file.read_text())["api"]["key"] == KEY  # the file is the one place
    assert mode(config_file) == 0o600
    assert run("config", "set", "plugins.mine.api_token", "tok-very-secret").returncode == 0

    for args in (("config", "show"), ("config", "show", "--json"), ("--json", "config", "show")):
        shown = run(*args)
        assert shown.returncode == 0
        assert KEY not in shown.stdout and "tok-very-secret" not in shown.stdout
    data = json.loads(run("config", "show", "--json").stdout)
    assert data["api"]["key"] == "**********"
    assert data["plugins"]["mine"]["api_token"] == "**********"

    from_env = run("config", "show", "--json", OPENAI_API_KEY="sk-from-the-environment-0000")
    assert "sk-from-the-environment" not in from_env.stdout
    assert json.loads(from_env.stdout)["api"]["key"] == "**********"


@pytest.mark.parametrize(
    ("key", "value", "names"),
    [
        ("audio.echo", "bogus", "audio.echo"),
        ("listen.mode", "sometimes", "listen.mode"),
        ("audio.chunk_ms", "1", "audio.chunk_ms"),
        ("api.timeout", "-1", "api.timeout"),
        ("audio.inptu_device", "usb", "audio.inptu_device: no such key"),
        ("nope.x", "1", "nope: no such key"),
        ("plugins.goodbye.action", "explode", "plugins.goodbye.action"),
        ("audio.input_device.x", "1", "audio.input_device"),
        ("audio.", "1", "is not a key"),
    ],
)
def test_set_refuses_a_bad_value_and_leaves_the_file(
    run: Any, config_file: Path, key: str, value: str, names: str
) -> None:
    assert run("config", "init").returncode == 0
    config_file.chmod(0o600)
    before = config_file.read_bytes()
    result = run("config", "set", key, value)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("voicectl: ") and names in result.stderr
    assert result.stdout == ""
    assert config_file.read_bytes() == before


def test_set_is_checked_against_the_file_not_the_environment(run: Any, config_file: Path) -> None:
    # The environment wins over the file, but a bad value must not reach the file behind it.
    refused = run("config", "set", "audio.echo", "bogus", VOICED_AUDIO__ECHO="off")
    assert refused.returncode == 1
    assert not config_file.exists()
    noted = run("config", "set", "audio.echo", "aec", VOICED_AUDIO__ECHO="off")
    assert noted.returncode == 0
    assert "VOICED_AUDIO__ECHO is set in the environment" in noted.stderr


def test_show_merges_file_dotenv_and_environment(run: Any, config_file: Path, home: Path) -> None:
    config_file.parent.mkdir(parents=True)
    config_file.write_text('[listen]\nmode = "wake"\n[audio]\necho = "aec"\nchunk_ms = 40\n')
    (home / ".env").write_text("VOICED_AUDIO__ECHO=off\n")
    data = json.loads(run("config", "show", "--json", VOICED_AUDIO__CHUNK_MS="10").stdout)
    assert data["listen"]["mode"] == "wake"  # file over defaults
    assert data["audio"]["echo"] == "off"  # .env over the file
    assert data["audio"]["chunk_ms"] == 10  # environment over the file
    assert data["audio"]["channels"] == 1  # a default


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[audio\n", "(at line 1, column 7)"),
        ('[audio]\necho = "loud"\n', "audio.echo"),
    ],
)
def test_a_broken_config_is_one_line(run: Any, config_file: Path, text: str, says: str) -> None:
    config_file.parent.mkdir(parents=True)
    config_file.write_text(text)
    for command in ("show", "set"):
        args = ("config", command) if command == "show" else ("config", "set", "listen.mode", "wake")
        result = run(*args)
        assert result.returncode == 1
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert says in result.stderr and str(config_file) in result.stderr
    assert config_file.read_text() == text


def test_help_lists_config_and_doctor(run: Any) -> None:
    top = run("--help")
    assert top.returncode == 0
    rows = [line.split() for line in top.stdout.splitlines() if line.startswith("│ ")]
    commands = {row[1] for row in rows if len(row) > 1}
    assert {"config", "doctor"} <= commands
    sub = run("config", "--help").stdout
    for name in ("path", "show", "init", "set"):
        assert f"│ {name} " in sub
    set_help = " ".join(run("config", "set", "--help").stdout.split())
    assert "comments and layout are not kept" in set_help
    assert run("config").returncode in (0, 1)  # usage, not a traceback


def test_a_secret_is_read_from_standard_input(config_env: dict[str, str], config_file: Path,
                                              home: Path) -> None:
    """Guards [S]7: `config set api.key -` takes the key from stdin, so it is in neither
    argv (ps) nor the shell history; no warning then."""
    result = forking.run([sys.executable, "-m", "voicectl", "config", "set", "api.key", "-"],
                         input=f"{KEY}\n", capture_output=True, text=True, env=config_env, cwd=home,
                         timeout=30)
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(config_file.read_text())["api"]["key"] == KEY
    assert mode(config_file) == 0o600
    assert "api.key = **********" in result.stdout
    assert KEY not in result.stdout + result.stderr and "warning" not in result.stderr


def test_nothing_on_standard_input_changes_nothing(config_env: dict[str, str], config_file: Path,
                                                   home: Path) -> None:
    result = forking.run([sys.executable, "-m", "voicectl", "config", "set", "api.key", "-"],
                         input="", capture_output=True, text=True, env=config_env, cwd=home, timeout=30)
    assert result.returncode == 1
    assert result.stderr == "voicectl: no value for api.key on standard input\n"
    assert not config_file.exists()


def test_a_secret_given_as_an_argument_is_stored_with_a_warning(run: Any, config_file: Path) -> None:
    """Guards [S]7: the old way still works, but says where the key just went and how to avoid it."""
    result = run("config", "set", "plugins.mine.api_token", "tok-in-argv")
    assert result.returncode == 0
    assert "warning: a secret given as an argument stays in the shell history" in result.stderr
    assert "voicectl config set plugins.mine.api_token -" in result.stderr
    assert tomllib.loads(config_file.read_text())["plugins"]["mine"]["api_token"] == "tok-in-argv"
    assert "warning" not in run("config", "set", "listen.mode", "wake").stderr


def test_at_a_terminal_the_secret_is_prompted_for_without_echo(
        tmux: Any, config_env: dict[str, str], config_file: Path) -> None:
    """Guards [S]7: with a terminal on stdin, `-` prompts and the typed key is not shown."""
    env = " ".join(f"{name}={config_env[name]}" for name in ("HOME", "XDG_CONFIG_HOME"))
    tmux.start(f"env -u VOICED_CONFIG {env} {sys.executable} -m voicectl config set api.key -")
    tmux.wait_text("api.key:")
    tmux.type(KEY)
    screen = tmux.wait_text("exited 0")
    assert KEY not in "\n".join(screen)
    assert tomllib.loads(config_file.read_text())["api"]["key"] == KEY


def test_set_imports_no_drop_in_from_the_working_directory(run: Any, config_file: Path, home: Path) -> None:
    """Guards [S]2: checking a `plugins.NAME` key imports that plugin; a relative `dirs`
    entry means the config folder's, never one where voicectl happens to be started."""
    marker = home / "planted-ran"
    (home / "extra").mkdir(mode=0o755)
    planted = f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
    (home / "extra" / "planted.py").write_text(planted)
    (home / "extra" / "planted.py").chmod(0o644)
    config_file.parent.mkdir(parents=True)
    config_file.write_text('[plugins]\ndirs = ["extra"]\n')
    assert run("config", "set", "plugins.planted.level", "3").returncode == 0
    assert not marker.exists()
