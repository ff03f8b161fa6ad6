"""The event loop the long-running entry points run on: uvloop where installed, asyncio's otherwise.

uvloop (libuv underneath) cuts the per-request cost of the loop itself (socket reads and writes,
callbacks, timers), which is a large share of a gateway hop whose upstream answers in microseconds.
It has no Windows build, so it is optional: on Windows, when it is not installed, or when
`SHAREAI_LOOP=asyncio` is set, `run` uses asyncio's default loop. Tests keep pytest-asyncio's loop;
only the `serve`/`run` commands come through here.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
ENV = "SHAREAI_LOOP"  # "asyncio" forces the standard loop; anything else: uvloop when available


def loop_factory(name: str | None = None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop constructor, or None for asyncio's default (named "asyncio", on Windows, or
    uvloop missing). `name`: "uvloop" or "asyncio"; None reads $SHAREAI_LOOP."""
    wanted = (name if name is not None else os.environ.get(ENV, "uvloop")).strip().lower()
    if wanted == "asyncio" or sys.platform == "win32":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def loop_name(factory: Callable[[], asyncio.AbstractEventLoop] | None) -> str:
    return "asyncio" if factory is None else "uvloop"


def run(coro: Coroutine[Any, Any, T], *, loop: str | None = None) -> T:
    """`asyncio.run(coro)` on the chosen loop (see `loop_factory`)."""
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(coro)
