"""The `home` fixture of the in-process daemon tests: private XDG folders and config."""

from tests.voiced.daemon.test_reload import home

__all__ = ["home"]
