"""What the plugin host's worker threads (recording writers, wake detectors) share: they
are fed by bounded queues, and the signal to stop must get through a full one."""

from __future__ import annotations

import contextlib
import queue
from typing import Any

STOP = object()
"""Put on a worker's queue: finish and end the thread."""


def send_stop(inbox: queue.Queue[Any]) -> None:
    """Queue STOP without waiting; when the queue is full, the oldest item gives way
    (losing the tail beats losing the stop)."""
    while True:
        try:
            inbox.put_nowait(STOP)
            return
        except queue.Full:
            with contextlib.suppress(queue.Empty):
                inbox.get_nowait()
