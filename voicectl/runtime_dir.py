"""Where the control socket lives by default: one rule, read by voiced and by voicectl.

The socket's folder is the first of these that qualifies:

1. ``$XDG_RUNTIME_DIR/voiced``, when ``$XDG_RUNTIME_DIR`` is an absolute path to a
   private folder (see ``private_folder_problem``);
2. ``/run/user/UID/voiced``, when ``/run/user/UID`` is such a folder;
3. ``$TMPDIR/voiced-UID`` (``/tmp/voiced-UID`` without an absolute ``$TMPDIR``).

A folder is private when it is a real folder (not a symlink), belongs to the user and
gives group and others no access at all. The rule only looks, it never creates: the
daemon creates the socket's folder and refuses one that is not private (a fallback in
/tmp that another user made first, say), so a path chosen here is safe to listen on.

This lives in the client package, standard library only, because voicectl must not
import ``voiced`` (its ``__init__`` loads the plugin machinery); voiced imports it from
here, so the two can never disagree.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False  # the typing module costs start-up time on voicectl's fast path
if TYPE_CHECKING:
    from collections.abc import Mapping

SOCKET_NAME = "control.sock"
RUN_USER = "/run/user"
"""Where systemd-logind makes each user's runtime folder."""


def private_folder_problem(path: str, *, uid: int | None = None) -> str | None:
    """Why ``path`` is not a private folder of user ``uid`` (default: ours), or None if it is.

    The reason completes a sentence that starts with the path ("is a symlink"). A
    missing folder is a reason too.
    """
    uid = os.geteuid() if uid is None else uid
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be checked ({exc.strerror or exc})"
    if stat.S_ISLNK(info.st_mode):
        return "is a symlink"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    if info.st_uid != uid:
        return f"belongs to uid {info.st_uid}, not to uid {uid}"
    if info.st_mode & 0o077:
        return f"is open to other users (mode {stat.S_IMODE(info.st_mode):04o}, want 0700)"
    return None


def socket_folder(env: Mapping[str, str] | None = None, *, uid: int | None = None) -> str:
    """The folder of the default control socket, by the rule above, for user ``uid``
    (default: ours) with the variables in ``env`` (default: the environment)."""
    env = os.environ if env is None else env
    uid = os.geteuid() if uid is None else uid
    for base in (env.get("XDG_RUNTIME_DIR", "").strip(), f"{RUN_USER}/{uid}"):
        if os.path.isabs(base) and private_folder_problem(base, uid=uid) is None:
            return os.path.join(base, "voiced")
    temp = env.get("TMPDIR", "").strip()
    return os.path.join(temp if os.path.isabs(temp) else "/tmp", f"voiced-{uid}")


def default_socket_path(env: Mapping[str, str] | None = None, *, uid: int | None = None) -> str:
    """The control socket's path when neither a flag, the environment nor the config names one."""
    return os.path.join(socket_folder(env, uid=uid), SOCKET_NAME)
