"""Reference pages written from the code at build time, so they cannot fall behind it.

Before Sphinx reads the sources, this writes Markdown into ``docs/_generated/``, which
the pages include: every configuration key (from the pydantic models), every control
method (from the daemon's method registry, as ``describe`` reports it), every hook
(from the hookspecs' docstrings) and every Realtime event type (from
``voiced.realtime.events``).
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import re
import textwrap
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python
from sphinx.application import Sphinx

GENERATED = Path(__file__).parents[1] / "_generated"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "(required)"
    else:
        value = field.default
    return f"`{json.dumps(to_jsonable_python(value))}`"


def _type(annotation: Any) -> str:
    """`str | None`, `path`, `Literal['a', 'b']`: the type as a user writes the value."""
    text = annotation.__name__ if isinstance(annotation, type) else repr(annotation)
    text = re.sub(r"\b(typing|pathlib|pydantic\.types|voiced\.config|voiced\.mcp\.settings)\.", "", text)
    text = re.sub(r"Annotated\[(\w+), StringConstraints\(.*?\)\]", r"\1", text)
    text = re.sub(r"Annotated\[Path, AfterValidator\(.*?\)\]", "path", text)
    while (optional := re.search(r"Optional\[(.*)\]", text)) is not None:
        text = text[:optional.start()] + f"{optional.group(1)} | None" + text[optional.end():]
    return f"`{text}`"


def _description(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    """The field's `description`, else the docstring written under it in the model."""
    if field.description:
        return field.description
    for klass in model.__mro__:
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for statement, following in itertools.pairwise(body):
            if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                    and statement.target.id == name and isinstance(following, ast.Expr)
                    and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str)):
                return inspect.cleandoc(following.value.value)
    return ""


PLACEHOLDERS = {"prices": "MODEL"}
"""What a table of tables' entries are called in the key (`prices.MODEL.input`); else NAME."""


def _model(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _entry_model(annotation: Any) -> type[BaseModel] | None:
    """`Model` of a `dict[str, Model]` field (a table of tables, `[mcp.servers.NAME]`)."""
    args = typing.get_args(annotation)
    return _model(args[1]) if typing.get_origin(annotation) is dict and len(args) == 2 else None


def configuration() -> str:
    from voiced.config import Settings

    rows = ["| key | type | default | environment | what |", "| --- | --- | --- | --- | --- |"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            key = f"{prefix}{name}"
            annotation = field.annotation
            if (section := _model(annotation)) is not None:
                walk(section, f"{key}.")
                continue
            env = "VOICED_" + key.upper().replace(".", "__")
            if key == "api.key":
                env += " or OPENAI_API_KEY"
            rows.append(f"| `{key}` | {_cell(_type(annotation))} | {_cell(_default(field))} | `{env}` "
                        f"| {_cell(_description(model, name, field))} |")
            if (entry := _entry_model(annotation)) is not None:
                walk(entry, f"{key}.{PLACEHOLDERS.get(name, 'NAME')}.")

    walk(Settings, "")
    return "\n".join(rows) + "\n"


def control_methods() -> str:
    from voiced.daemon.method_set import described_methods

    parts = []
    for described in described_methods().describe():
        parts.append(f"### `{described['name']}`\n\n{described['summary']}\n")
        params = described["params"] or {}
        properties, required = params.get("properties", {}), set(params.get("required", []))
        if not properties:
            parts.append("No params.\n")
            continue
        parts.append("| param | type | what |\n| --- | --- | --- |")
        for param, schema in properties.items():
            kinds = [s.get("type", "") for s in schema.get("anyOf", [])] or [schema.get("type", "")]
            kind = " or ".join(f"`{value}`" for value in schema["enum"]) if "enum" in schema \
                else " or ".join(str(k) for k in kinds)
            mark = "" if param in required else " (optional)"
            parts.append(f"| `{param}`{mark} | {_cell(kind)} | {_cell(schema.get('description', ''))} |")
        parts.append("")
    return "\n".join(parts)


def hooks() -> str:
    from voiced.plugin_host import hookspecs

    parts = []
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        if not name.startswith("voiced_"):
            continue
        parameters = ", ".join(inspect.signature(function).parameters)
        doc = inspect.cleandoc(function.__doc__ or "")
        parts.append(f"### `{name}({parameters})`\n\n{doc}\n")
    return "\n".join(parts)


def realtime_events() -> str:
    from voiced.realtime.events import CLIENT_EVENTS, SERVER_EVENTS

    def table(events: dict[str, str]) -> str:
        rows = ["| type | what |", "| --- | --- |"]
        rows += [f"| `{name}` | {_cell(what)} |" for name, what in sorted(events.items())]
        return "\n".join(rows) + "\n"

    return f"## Client events\n\n{table(CLIENT_EVENTS)}\n## Server events\n\n{table(SERVER_EVENTS)}"


PAGES = {
    "configuration.md": configuration,
    "control_methods.md": control_methods,
    "hooks.md": hooks,
    "realtime_events.md": realtime_events,
}


def generate(app: Sphinx | None = None) -> None:
    GENERATED.mkdir(exist_ok=True)
    for filename, write in PAGES.items():
        path = GENERATED / filename
        text = write()
        if not path.exists() or path.read_text() != text:  # unchanged files do not trigger rebuilds
            path.write_text(text)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
