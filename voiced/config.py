"""Configuration: pydantic models read from defaults, TOML, `.env`, the environment and flags.

Precedence, lowest first: built-in defaults < config.toml < `.env` < environment <
command line. Every key is also `VOICED_<SECTION>__<KEY>`; `OPENAI_API_KEY` fills
`api.key`. The key is a `SecretStr`: it prints as `**********` everywhere.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from voiced.mcp.settings import McpSettings
from voiced.mqtt_config import MqttConfig
from voiced.pcm import WIRE_RATE

APP_NAME = "voiced"


def default_config_path() -> Path:
    """`$VOICED_CONFIG`, else `~/.config/voiced/config.toml`."""
    if env := os.environ.get("VOICED_CONFIG"):
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def default_socket_path() -> Path:
    """`$XDG_RUNTIME_DIR/voiced/control.sock` when that folder is private, else a private
    fallback: the rule voicectl follows too (see `voicectl.runtime_dir`)."""
    from voicectl import runtime_dir  # standard library only, shared with the client

    return Path(runtime_dir.default_socket_path())


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def log_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME)) / "log"


def config_folder() -> Path:
    """The folder of the config file in use: relative paths in the configuration start here."""
    return (_toml_path.get() or default_config_path()).absolute().parent


def _from_config_folder(path: Path) -> Path:
    """`~` expanded, and a relative path taken from the config folder, never the working
    directory (a `.env` or a start from elsewhere must not point voiced at other files)."""
    try:
        path = path.expanduser()
    except RuntimeError:  # ~user of an unknown user, or no home at all
        raise ValueError(f"cannot expand ~ in {path}") from None
    return path if path.is_absolute() else config_folder() / path


ConfigPath = Annotated[Path, AfterValidator(_from_config_folder)]
"""A path setting: `~` expanded, relative to the config folder."""


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _encrypted_unless_loopback(url: str) -> str:
    """The key travels as a bearer header to `url`: plain ws:// or http:// only to this machine."""
    parts = urlsplit(url)
    if parts.scheme in ("https", "wss"):
        return url
    if parts.scheme not in ("http", "ws"):
        raise ValueError("must be an https:// or wss:// URL")
    if not _is_loopback(parts.hostname):
        raise ValueError(f"{parts.scheme}:// would send the key unencrypted: use https:// or wss:// "
                         f"({parts.scheme}:// is only for 127.0.0.1, ::1 or localhost)")
    return url


class Section(BaseModel):
    """A config table: unknown keys are mistakes worth a clear message."""

    model_config = ConfigDict(extra="forbid")


class ApiConfig(Section):
    key: SecretStr | None = None
    base_url: Annotated[str, AfterValidator(_encrypted_unless_loopback)] = "https://api.openai.com/v1"
    model: str = "gpt-realtime"
    timeout: float = Field(10.0, gt=0, description="seconds to connect or to hear a pong")
    rollover_after_s: float = Field(3300.0, gt=0, le=3600,
                                    description="start a new session at a quiet moment after this long")


class AssistantProfile(Section):
    instructions: str | None = None
    voice: str = "marin"
    prompt_id: str | None = None
    output_modalities: list[Literal["audio", "text"]] = ["audio"]


class AssistantConfig(AssistantProfile):
    default: str | None = Field(None, description="the [assistants.NAME] profile to use")


class AudioConfig(Section):
    input_device: str | None = None
    output_device: str | None = None
    sample_rate: int = Field(WIRE_RATE, gt=0, description="the device rate tried first")
    channels: int = Field(1, ge=1, le=8)
    chunk_ms: int = Field(40, ge=5, le=200)
    vad_threshold: float = Field(0.5, ge=0.0, le=1.0)
    turn_detection: Literal["server_vad", "semantic_vad", "manual"] = "server_vad"
    noise_reduction: Literal["near_field", "far_field", "off"] = "far_field"
    echo: Literal["off", "gate", "aec"] = "aec"
    """How the assistant is kept from hearing itself on speakers (`voiced.audio.echo`):
    "aec" lets a voice as loud as the echo, or 6 dB under it, through within 300 ms and
    does not interrupt itself (bench/room.py); "gate" needs no echo canceller but a voice
    must be ~10 dB over the echo to barge in; "off" for a headset. With a virtual device
    (`null`, `file:`) there is no echo path: it is off in effect."""


class TranscriptionConfig(Section):
    enabled: bool = True
    model: str = "gpt-4o-mini-transcribe"
    language: str | None = None


class ListenConfig(Section):
    mode: Literal["always", "wake", "push_to_talk"] = "always"
    idle_timeout_s: float = Field(300.0, gt=0)
    cues: bool = True
    wake_word: Literal["okay_nabu", "hey_jarvis", "hey_mycroft", "alexa"] | None = None
    """An offline wake word (the bundled `wake_word` plugin); unset: any voice wakes."""
    wake_word_threshold: float | None = Field(None, gt=0, lt=1)
    """The model's probability needed to wake; unset: the model's own cut-off."""


class BudgetConfig(Section):
    daily_usd: float | None = Field(None, gt=0)


class ModelPrices(Section):
    """US dollars per million tokens."""

    audio_input: float = 32.0
    audio_cached_input: float = 0.40
    audio_output: float = 64.0
    text_input: float = 4.0
    text_cached_input: float = 0.40
    text_output: float = 16.0


class RecordingConfig(Section):
    enabled: bool = False
    dir: ConfigPath | None = None


class ControlConfig(Section):
    socket: ConfigPath | None = None


class LoggingConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    file_path: ConfigPath | None = None

    @field_validator("level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class PluginsConfig(BaseModel):
    """`disabled`, `dirs`, and one free-form table per plugin (`[plugins.NAME]`)."""

    model_config = ConfigDict(extra="allow")

    disabled: list[str] = []
    dirs: list[ConfigPath] = []


class Settings(BaseSettings):
    """The whole configuration, merged from every source."""

    model_config = SettingsConfigDict(
        env_prefix="VOICED_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
    )

    api: ApiConfig = ApiConfig()
    assistant: AssistantConfig = AssistantConfig()
    assistants: dict[str, AssistantProfile] = {}
    audio: AudioConfig = AudioConfig()
    transcription: TranscriptionConfig = TranscriptionConfig()
    listen: ListenConfig = ListenConfig()
    budget: BudgetConfig = BudgetConfig()
    prices: dict[str, ModelPrices] = {"gpt-realtime": ModelPrices()}
    recording: RecordingConfig = RecordingConfig()
    control: ControlConfig = ControlConfig()
    logging: LoggingConfig = LoggingConfig()
    plugins: PluginsConfig = PluginsConfig()
    mcp: McpSettings = McpSettings()
    mqtt: MqttConfig = MqttConfig()
    debug_mode: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest priority first: flags, the environment, .env, the TOML file; within the
        # environment and within .env, VOICED_API__KEY before OPENAI_API_KEY.
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_toml_path.get())
        return (init_settings, env_settings, _OpenAIKeySource(settings_cls, dotenv=False),
                _DotEnvSource(settings_cls), _OpenAIKeySource(settings_cls, dotenv=True), toml)

    @property
    def socket_path(self) -> Path:
        return (self.control.socket or default_socket_path()).expanduser()

    def profile(self, name: str | None = None) -> AssistantProfile:
        """The assistant profile in force: `--assistant NAME`, `assistant.default`, or `[assistant]`."""
        name = name or self.assistant.default
        base = AssistantProfile(**self.assistant.model_dump(exclude={"default"}))
        if name is None:
            return base
        if name not in self.assistants:
            known = ", ".join(sorted(self.assistants)) or "none defined"
            raise ConfigError(f"no assistant profile {name!r} in [assistants] ({known})")
        named = self.assistants[name]
        return base.model_copy(update=named.model_dump(exclude_unset=True))


class _TomlPath:
    """Which TOML file `Settings()` reads (and so the config folder), set by `load_settings`.

    pydantic-settings builds sources per class, so the path is handed over here.
    """

    def __init__(self) -> None:
        self._path: Path | None = None

    def get(self) -> Path | None:
        return self._path

    def set(self, path: Path | None) -> None:
        self._path = path


_toml_path = _TomlPath()


class _OpenAIKeySource(PydanticBaseSettingsSource):
    """`OPENAI_API_KEY`, the name every OpenAI tool reads, fills `api.key`: from the
    environment, or from `.env`."""

    def __init__(self, settings_cls: type[BaseSettings], *, dotenv: bool) -> None:
        super().__init__(settings_cls)
        self.dotenv = dotenv

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if self.dotenv:
            from dotenv import dotenv_values

            key = dotenv_values(".env").get("OPENAI_API_KEY") if Path(".env").is_file() else None
        else:
            key = os.environ.get("OPENAI_API_KEY")
        return {"api": {"key": key}} if key else {}


class _DotEnvSource(DotEnvSettingsSource):
    """`.env` holds other programs' variables too: only ours (VOICED_*) are configuration."""

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in super().__call__().items() if k in self.settings_cls.model_fields}


class ConfigError(Exception):
    """A configuration problem, phrased for one line in front of a user."""


def load_settings(config_path: Path | None = None, **overrides: Any) -> Settings:
    """Read the configuration; `overrides` are command-line values (nested dicts by section).

    Raises ConfigError with a one-line message for an unreadable or invalid file or value.
    """
    from pydantic import ValidationError

    path = config_path or default_config_path()
    explicit = config_path is not None or "VOICED_CONFIG" in os.environ
    if path.exists():
        try:
            path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
        _toml_path.set(path)
    elif explicit:
        raise ConfigError(f"config file {path} does not exist")
    else:
        _toml_path.set(None)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, path)) from None
    except ValueError as exc:  # TOML syntax errors and malformed env values
        raise ConfigError(f"invalid configuration in {path}: {exc}") from None
    finally:
        _toml_path.set(None)


def describe_validation_error(exc: ValidationError, path: Path | None = None, *, under: str = "") -> str:
    """One line naming the first bad key, what was wrong and how many other errors there are.

    `under` is the key the validated data sits at (`plugins.NAME` for a plugin's table); with
    `path`, the line also says where to look.
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    key = ".".join([*([under] if under else []), *(str(part) for part in first["loc"])])
    more = len(errors) - 1
    suffix = f" (and {more} more)" if more else ""
    where = f" (in {path} or a VOICED_* variable)" if path is not None else ""
    # A validator's own ValueError says it all; pydantic would prefix it with "Value error, ".
    error = first.get("ctx", {}).get("error") if first["type"] == "value_error" else None
    message = str(error) if error is not None else first["msg"]
    return f"invalid configuration: {key}: {message}{suffix}{where}"


def masked(settings: Settings) -> dict[str, Any]:
    """The merged configuration as JSON-ready data, secrets masked (for `config show`, `status`)."""
    return settings.model_dump(mode="json")


def secret_values(value: object) -> Iterator[str]:
    """Every `SecretStr` in a configuration, however deep: the API key, passwords."""
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for _, item in value:
            yield from secret_values(item)
    elif isinstance(value, dict | list | tuple):
        for item in value.values() if isinstance(value, dict) else value:
            yield from secret_values(item)
