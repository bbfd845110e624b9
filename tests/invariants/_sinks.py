"""Where a key could leak to, read as a user (or an attacker) would: files, streams, log
records, and everything an exception carries (its repr and text, its notes, the objects
it holds, the requests in its causes, its pickled bytes)."""

from __future__ import annotations

import contextlib
import logging
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

KEY = "sk-INVARIANT-KEY-1234"


def shown(show: Callable[[Any], str], value: Any) -> str:
    """repr() or str() of a value, or what showing it raised (itself a finding)."""
    try:
        return show(value)
    except Exception as failure:
        return f"<{show.__name__}() raised {type(failure).__name__}: {failure}>"


def _object_texts(value: Any) -> Iterator[str]:
    yield shown(repr, value)
    if isinstance(value, httpx.Request):
        yield repr(value.headers)
        yield repr(dict(value.headers))
    if isinstance(value, httpx.Response):
        yield repr(value.headers)
        with contextlib.suppress(RuntimeError):
            yield from _object_texts(value.request)
    if isinstance(value, httpx.Headers):
        yield repr(dict(value))


def exception_texts(error: BaseException) -> Iterator[str]:
    """repr and str of the error and of every error in its cause/context chain, their
    notes and attributes; the request an httpx error carries, headers included."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield shown(repr, current)
        yield shown(str, current)
        yield from (str(note) for note in getattr(current, "__notes__", ()))
        for value in vars(current).values():
            yield from _object_texts(value)
        with contextlib.suppress(RuntimeError, AttributeError):
            yield from _object_texts(current.request)  # type: ignore[attr-defined]
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]


def pickled(error: BaseException) -> tuple[BaseException | None, bytes, str | None]:
    """(the error after a pickle round trip, its bytes, why it failed)."""
    try:
        data = pickle.dumps(error)
        return pickle.loads(data), data, None
    except Exception as failure:
        return None, b"", f"{type(failure).__name__}: {failure}"


def files_holding(root: Path, secret: str) -> list[Path]:
    """Every file under `root` whose bytes hold `secret` (symlinks not followed)."""
    needle = secret.encode()
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        with contextlib.suppress(OSError):
            if needle in path.read_bytes():
                found.append(path)
    return found


class LogCapture(logging.Handler):
    """Every record of flux_canny and httpx, at DEBUG, formatted as a handler would."""

    LOGGERS = ("flux_canny", "httpx", "httpcore")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @contextlib.contextmanager
    def installed(self) -> Iterator[LogCapture]:
        root = logging.getLogger()
        levels = {name: logging.getLogger(name).level for name in self.LOGGERS}
        for name in self.LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)
        root.addHandler(self)
        try:
            yield self
        finally:
            root.removeHandler(self)
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
