"""Agent test helpers: a real `AgentServer` on port 0 over fake or real backends, and SDK clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import openai

from shareai.agent.backends.base import Backend
from shareai.agent.server import AgentServer
from shareai.agent.slots import ModelPool


@asynccontextmanager
async def running(
    pools: Sequence[ModelPool], *, api_key: str | None = None, max_body_bytes: int = 64 * 1024,
    close_models: bool = True,
) -> AsyncIterator[tuple[AgentServer, str]]:
    """A started server and its base URL (`http://127.0.0.1:PORT/v1`); stopped gracefully on exit."""
    server = AgentServer(pools, api_key=api_key, max_body_bytes=max_body_bytes)
    port = await server.start("127.0.0.1", 0)
    try:
        yield server, f"http://127.0.0.1:{port}/v1"
    finally:
        await server.stop(close_models=close_models)


DEADLINE_S = 10.0


async def eventually(cond: Callable[[], bool]) -> None:
    """Wait (bounded by DEADLINE_S) until `cond()` holds: state that a server thread changes."""
    async with asyncio.timeout(DEADLINE_S):
        while not cond():  # noqa: ASYNC110 - polling another thread's state, there is no event to wait on
            await asyncio.sleep(0.005)


def pool_of(name: str, make: Callable[[], Backend], *, slots: int = 1, queue_limit: int = 8) -> ModelPool:
    return ModelPool(name, [make() for _ in range(slots)], queue_limit=queue_limit)


def client(base_url: str, api_key: str = "unused", timeout: float = 30.0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout)
