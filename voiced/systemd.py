"""sd_notify: telling systemd we are ready, what we are doing, and that we are alive."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("voiced")


def notify(**fields: str) -> bool:
    """Send `KEY=value` lines to $NOTIFY_SOCKET, e.g. notify(READY="1", STATUS="listening").

    Returns False when not under systemd (no NOTIFY_SOCKET) or the datagram failed;
    a failure is logged once at debug level and never raised: notification is advisory.
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message)
    except OSError as exc:
        log.debug("sd_notify to %s failed: %s", address, exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings: half of $WATCHDOG_USEC, when it is meant for us."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1_000_000 / 2
    except ValueError:
        return None


LISTEN_FDS_START = 3


def inherited_socket() -> socket.socket | None:
    """The control socket systemd opened for us (`voiced.socket`), if it started us that way."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
        return None
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)  # not for our children
    sock = socket.socket(fileno=LISTEN_FDS_START)
    sock.setblocking(False)
    return sock
