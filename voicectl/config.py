"""``voicectl config``: which file voiced reads, what it all adds up to, a starter, one key.

These use voiced's own configuration models, so they import pydantic and voiced (inside
the functions, so that ``voicectl --help`` stays quick); the plain request commands on
the fast path never come here. Every function returns the exit code: 0 done, 1 a
problem, told in one line.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .request_commands import OK, fail
from .starter_config import TEXT as STARTER

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

    from voiced.config import Settings

MASK = "**********"
STDIN = "-"
"""The value that means: read it from standard input."""
RELOAD_HINT = (
    "a running voiced reads it on reload: systemctl --user reload voiced (or kill -HUP its pid)"
)
# In free-form [plugins.NAME] tables, values under keys with these words are masked too.
_SECRET_WORDS = ("key", "token", "secret", "password")


def config_path() -> Path:
    """The config file voiced reads: ``$VOICED_CONFIG``, else ``~/.config/voiced/config.toml``."""
    from voiced.config import default_config_path

    return default_config_path()


def run_path(*, as_json: bool = False) -> int:
    """``config path``: the path on stdout; on stderr, a note when the file does not exist."""
    path = config_path()
    exists = path.is_file()
    if as_json:
        source = "VOICED_CONFIG" if os.environ.get("VOICED_CONFIG") else "default"
        print(json.dumps({"path": str(path), "exists": exists, "from": source}))
        return OK
    print(path)
    if not exists:
        print("(it does not exist yet: voicectl config init writes a starter)", file=sys.stderr)
    return OK


# -- show ----------------------------------------------------------------------------


def _is_secret(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_WORDS)


def _mask_secrets(value: Any, name: str = "") -> Any:
    if isinstance(value, dict):
        return {key: _mask_secrets(item, str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_secrets(item, name) for item in value]
    if isinstance(value, str) and value and _is_secret(name):
        return MASK
    return value


def masked_config() -> dict[str, Any]:
    """The merged configuration as JSON-ready data, secrets masked; raises voiced's ConfigError."""
    from voiced.config import load_settings, masked

    data = masked(load_settings())
    # api.key is a SecretStr and arrives masked; plugin tables are free-form, so a plugin's
    # token is masked by its key's name.
    plugins = data.get("plugins", {})
    for name, table in plugins.items():
        if name not in ("disabled", "dirs"):
            plugins[name] = _mask_secrets(table)
    return data


def _without_unset(value: dict[str, Any], prefix: str, unset: list[str]) -> dict[str, Any]:
    """``value`` without its None leaves (TOML has no null); their dotted keys go to ``unset``."""
    kept: dict[str, Any] = {}
    for key, item in value.items():
        dotted = f"{prefix}{key}"
        if item is None:
            unset.append(dotted)
        elif isinstance(item, dict):
            kept[key] = _without_unset(item, dotted + ".", unset)
        else:
            kept[key] = item
    return kept


def format_toml(data: dict[str, Any], path: Path) -> str:
    """The merged configuration as TOML, with a header saying where it came from."""
    import tomli_w

    unset: list[str] = []
    kept = _without_unset(data, "", unset)
    where = f"{path}" if path.is_file() else f"{path} (missing)"
    header = [
        "# voiced's configuration as it would start now, secrets masked:",
        f"# defaults < {where} < .env < environment.",
    ]
    if unset:
        header.append("# Unset: " + ", ".join(unset))
    return "\n".join(header) + "\n\n" + tomli_w.dumps(kept).rstrip("\n")


def run_show(*, as_json: bool = False) -> int:
    """``config show``: the merged configuration as TOML (or JSON), secrets masked."""
    from voiced.config import ConfigError

    try:
        data = masked_config()
    except ConfigError as exc:
        return fail(str(exc))
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(format_toml(data, config_path()))
    return OK


# -- init ----------------------------------------------------------------------------


def write_private(path: Path, text: str, *, replace: bool) -> None:
    """Write ``text`` to ``path`` as a whole, mode 0600, via a temporary file beside it.

    Without ``replace``, an existing file is left alone and FileExistsError raised.
    """
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # fails if the file appeared meanwhile: nothing is overwritten
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def run_init(*, force: bool = False, as_json: bool = False) -> int:
    """``config init``: write the commented starter config (mode 0600); --force replaces a file."""
    path = config_path()
    try:
        write_private(path, STARTER, replace=force)
    except FileExistsError:
        return fail(f"{path} already exists; --force replaces it (with the starter, losing your changes)")
    except OSError as exc:
        return fail(f"cannot write {path}: {exc.strerror or exc}")
    if as_json:
        print(json.dumps({"path": str(path), "written": True}))
    else:
        print(f"wrote {path}")
    return OK


# -- set -----------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """A TOML literal when ``text`` is one (number, boolean, array, quoted string), else ``text``."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def _read_file(path: Path) -> dict[str, Any]:
    """The config file's tables; {} when it does not exist. Raises ValueError with one line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None


def _with_key(data: dict[str, Any], parts: list[str], value: Any) -> dict[str, Any]:
    """A copy of ``data`` with the dotted key set; raises ValueError if a part is not a table."""
    result = copy.deepcopy(data)
    table = result
    for depth, part in enumerate(parts[:-1]):
        table = table.setdefault(part, {})
        if not isinstance(table, dict):
            raise ValueError(f"{'.'.join(parts[: depth + 1])} is a value, not a table")
    table[parts[-1]] = value
    return result


def _file_only_settings() -> type[Settings]:
    """voiced's Settings reading nothing but its arguments: no environment, .env or file."""
    from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

    from voiced.config import Settings

    class FileOnly(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings,)

    return FileOnly


def _describe(error: ErrorDetails) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{key}: no such key"
    return f"{key}: {error['msg']}"


def _related(one: str, other: str) -> bool:
    """Whether one dotted key is the other or inside it (``audio`` and ``audio.echo``)."""
    return one == other or one.startswith(other + ".") or other.startswith(one + ".")


def settings_problem(data: dict[str, Any], key: str) -> str | None:
    """Why the config file ``data`` would not load, preferring an error about ``key``; None if it would."""
    from pydantic import ValidationError

    try:
        _file_only_settings()(**data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        about_key = [e for e in errors if _related(".".join(str(part) for part in e["loc"]), key)]
        if about_key:
            return _describe(about_key[0])
        return f"the file has another problem: {_describe(errors[0])}"
    return None


def plugin_problem(data: dict[str, Any], parts: list[str]) -> str | None:
    """For a ``plugins.NAME.KEY``, what the plugin's own ``Config`` says about its table."""
    if len(parts) < 3 or parts[0] != "plugins" or parts[1] in ("disabled", "dirs"):
        return None
    from voiced.plugin_host import discovery

    plugins = data.get("plugins", {})
    folder = config_path().parent  # relative dirs start at the config folder, as voiced reads them
    dirs = [folder / "plugins", *(folder / Path(d).expanduser() for d in plugins.get("dirs", []))]
    quiet_voiced_logs()  # the failure is reported here, in one line
    candidates = {c.name: c for c in discovery.discover(dirs)}
    candidate = candidates.get(parts[1])
    if candidate is None:
        return None  # not installed (yet): nothing to check it against
    table = dict(plugins.get(parts[1]) or {})
    enabled = table.pop("enabled", True)
    if not isinstance(enabled, bool):
        return f"plugins.{parts[1]}.enabled: Input should be a valid boolean"
    record = discovery.load(candidate, table)
    if record.status == discovery.FAILED_CONFIG and record.last_error:
        return record.last_error.removeprefix("invalid configuration: ")
    return None


def quiet_voiced_logs() -> None:
    """Keep voiced's log records (a plugin that fails to load) off stderr: voicectl reports them."""
    import logging

    logger = logging.getLogger("voiced")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False


def _shown(key: str, value: Any) -> str:
    """``value`` as a TOML literal on one line, or the mask for a secret."""
    import tomli_w

    if any(_is_secret(part) for part in key.split(".")):
        return MASK
    if isinstance(value, list):
        return "[" + ", ".join(_shown("", item) for item in value) + "]"
    return tomli_w.dumps({"v": value}).strip().removeprefix("v = ")


def _overridden_by(parts: list[str]) -> list[str]:
    """Environment variables that win over the file for this key."""
    names = ["VOICED_" + "__".join(parts).upper()]
    if parts == ["api", "key"]:
        names.append("OPENAI_API_KEY")
    return [name for name in names if os.environ.get(name)]


def read_value(key: str) -> str:
    """``-`` as the value: one line of standard input, or at a terminal a prompt that does not
    echo (a secret stays out of the shell history and ``ps``). Raises ValueError if none came."""
    import getpass

    try:
        text = getpass.getpass(f"{key}: ") if sys.stdin.isatty() else sys.stdin.readline()
    except EOFError:
        text = ""
    if not text.strip():
        raise ValueError(f"no value for {key} on standard input")
    return text.strip()


def run_set(key: str, text: str, *, as_json: bool = False) -> int:
    """``config set KEY VALUE``: change one key in the config file, validated before writing.

    VALUE ``-`` reads it from standard input (a secret should come that way). The file is
    rewritten from its parsed tables (comments do not survive), mode 0600.
    """
    import tomli_w

    parts = key.split(".")
    if not all(part.strip() for part in parts):
        return fail(f"{key!r} is not a key; keys look like audio.input_device or plugins.goodbye.action")
    secret = any(_is_secret(part) for part in parts)
    if text == STDIN:
        try:
            text = read_value(key)
        except ValueError as exc:
            return fail(str(exc))
    elif secret:
        print(f"voicectl: warning: a secret given as an argument stays in the shell history and shows "
              f"in ps; next time: voicectl config set {key} - (it reads standard input)", file=sys.stderr)
    path = config_path()
    try:
        data = _read_file(path)
    except ValueError as exc:
        return fail(str(exc))
    value = parse_value(text)
    # "3" for a device name is the string "3": when the TOML literal does not fit, try the text.
    tries = [value] if isinstance(value, str) else [value, text]
    problem = None
    for candidate in tries:
        try:
            updated = _with_key(data, parts, candidate)
        except ValueError as exc:
            return fail(f"{key}: {exc} ({path} not changed)")
        problem = settings_problem(updated, key) or plugin_problem(updated, parts)
        if problem is None:
            value = candidate
            break
    if problem is not None:
        return fail(f"{problem} ({path} not changed)")
    try:
        write_private(path, tomli_w.dumps(updated), replace=True)
    except OSError as exc:
        return fail(f"cannot write {path}: {exc.strerror or exc}")
    if as_json:
        shown = MASK if secret else value
        print(json.dumps({"path": str(path), "key": key, "value": shown}))
    else:
        print(f"{key} = {_shown(key, value)} in {path}")
    for name in _overridden_by(parts):
        print(f"note: {name} is set in the environment and wins over the file", file=sys.stderr)
    print(RELOAD_HINT, file=sys.stderr)
    return OK
