"""A tool, `clock_now`, so the assistant can tell the date and time (and show how tools work)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from voiced import Tool, hookimpl


def now(timezone: str | None = None) -> dict[str, str]:
    """The current date and time, local or in an IANA timezone such as "Europe/Paris"."""
    try:
        tz = zoneinfo.ZoneInfo(timezone) if timezone else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        shown = str(timezone)[:64]  # never echo a flood back to the model
        return {"error": f"unknown timezone {shown!r}: use an IANA name such as Europe/Paris"}
    moment = dt.datetime.now(tz).astimezone(tz)
    return {
        "iso": moment.isoformat(timespec="seconds"),
        "date": moment.strftime("%A %d %B %Y"),
        "time": moment.strftime("%H:%M"),
        "timezone": timezone or str(moment.tzname()),
    }


@hookimpl
def voiced_tools() -> list[Tool]:
    return [Tool(
        name="clock_now",
        description="The current date and time, locally or in a given timezone.",
        parameters={
            "type": "object",
            "properties": {"timezone": {"type": "string", "description": "IANA name, e.g. Europe/Paris"}},
            "required": [],
        },
        handler=now,
    )]
