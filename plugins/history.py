"""Every turn in SQLite (`<data_dir>/history.sqlite3`, WAL mode) with full-text search.

Offers the control method `history {query?, limit?}` (`voicectl history [QUERY]`): the
newest turns, or the newest that match every word of `query`. The hooks are plain
functions, so the host runs them in worker threads: the daemon never waits on the disk.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from voiced import RpcMethod, hookimpl
from voiced.plugin_host import DaemonAPI
from voiced.turns import Turn

SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    started_at REAL,
    ended_at REAL,
    interrupted INTEGER NOT NULL DEFAULT 0
);
CREATE VIRTUAL TABLE IF NOT EXISTS turns_fts USING fts5(text, content='turns', content_rowid='id');
CREATE TRIGGER IF NOT EXISTS turns_ai AFTER INSERT ON turns BEGIN
    INSERT INTO turns_fts(rowid, text) VALUES (new.id, new.text);
END;
"""
COLUMNS = ("conversation_id", "item_id", "role", "text", "started_at", "ended_at", "interrupted")


class History:
    """The database, usable from any thread (one connection behind a lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def add(self, entry: Turn) -> None:
        """Store a turn, committed before returning."""
        row = [getattr(entry, name) for name in COLUMNS]
        with self._lock:
            self._db.execute(f"INSERT INTO turns ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)", row)

    def search(self, query: str | None, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` turns, or those containing every word of `query`, newest first."""
        columns = ", ".join(f"turns.{name}" for name in COLUMNS)
        with self._lock:
            if query and query.split():
                # Each word quoted: what a user types is never FTS5 syntax.
                match = " ".join('"' + word.replace('"', '""') + '"' for word in query.split())
                rows = self._db.execute(
                    f"SELECT {columns} FROM turns_fts JOIN turns ON turns.id = turns_fts.rowid "
                    "WHERE turns_fts MATCH ? ORDER BY turns.id DESC LIMIT ?", (match, limit)).fetchall()
            else:
                rows = self._db.execute(f"SELECT {columns} FROM turns ORDER BY id DESC LIMIT ?",
                                        (limit,)).fetchall()
        return [dict(zip(COLUMNS, row, strict=True)) | {"interrupted": bool(row[-1])} for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


history: History | None = None


class SearchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str | None = Field(None, max_length=1000, description="words the turn must contain")
    limit: int = Field(20, ge=1, le=1000)


def search(params: SearchParams) -> dict[str, Any]:
    """Past turns, newest first; with `query`, those containing its words."""
    assert history is not None, "voiced_startup comes first"
    return {"turns": history.search(params.query, params.limit)}


@hookimpl
def voiced_startup(daemon: DaemonAPI) -> None:
    global history
    history = History(Path(daemon.data_dir) / "history.sqlite3")


@hookimpl
def voiced_transcript(entry: Turn) -> None:
    if history is not None and entry.text:
        history.add(entry)


@hookimpl
def voiced_rpc_methods() -> list[RpcMethod]:
    # "" offers the method under the plugin's bare name: `history`, as the contract lists it.
    return [RpcMethod("", search, SearchParams)]


@hookimpl
def voiced_shutdown() -> None:
    global history
    if history is not None:
        history.close()
        history = None
