"""`shareai.aio.run`: the serve/run entry points' loop choice, uvloop where installed, asyncio on request."""

from __future__ import annotations

import asyncio
import sys

import pytest

from shareai import aio


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_asyncio_when_asked() -> None:
    assert aio.run(_loop_module(), loop="asyncio").startswith("asyncio")


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop has no Windows build")
def test_uvloop_when_installed() -> None:
    pytest.importorskip("uvloop")
    assert aio.run(_loop_module(), loop="uvloop").startswith("uvloop")


def test_returns_the_result_and_raises_the_error() -> None:
    async def boom() -> None:
        raise ValueError("x")

    assert aio.run(asyncio.sleep(0, result=7)) == 7
    with pytest.raises(ValueError, match="x"):
        aio.run(boom())
