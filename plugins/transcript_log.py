"""Each finished turn as one JSON line in `<data_dir>/transcripts/<conversation_id>.jsonl`.

A line is flushed and fsync'd as soon as its turn ends, so a crash loses nothing said.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from voiced import hookimpl
from voiced.plugin_host import DaemonAPI
from voiced.turns import Turn

folder: Path | None = None


@hookimpl
def voiced_startup(daemon: DaemonAPI) -> None:
    global folder
    folder = Path(daemon.data_dir) / "transcripts"
    folder.mkdir(parents=True, exist_ok=True)


@hookimpl
def voiced_transcript(entry: Turn) -> None:
    assert folder is not None, "voiced_startup comes first"
    line = json.dumps(dataclasses.asdict(entry), ensure_ascii=False) + "\n"
    with open(folder / f"{entry.conversation_id}.jsonl", "a", encoding="utf-8") as file:
        file.write(line)
        file.flush()
        os.fsync(file.fileno())
