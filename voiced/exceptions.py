"""Finding the error that matters inside the exception groups nurseries raise."""

from __future__ import annotations

import sys

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup


def innermost(exc: BaseException) -> BaseException:
    """The first real error inside (possibly nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def one_line(exc: BaseException) -> str:
    """The exception's type and the first line of its message: for `last_error` and logs."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def first_of(exc: BaseException, types: tuple[type[BaseException], ...]) -> BaseException | None:
    """The first error of one of `types` in `exc` or the groups nested in it, or None."""
    if isinstance(exc, types):
        return exc
    for inner in exc.exceptions if isinstance(exc, BaseExceptionGroup) else ():
        if (found := first_of(inner, types)) is not None:
            return found
    return None
