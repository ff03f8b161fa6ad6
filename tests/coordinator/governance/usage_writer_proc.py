"""A coordinator process that records one usage row every few milliseconds, for the kill -9 and
SIGTERM tests. Prints `ready`, then the sequence number of each record after it was handed to the
governor, so the parent knows exactly what the process had accepted when it died.

    python -m tests.coordinator.governance.usage_writer_proc DATA_DIR [WRITES_LOG]

With WRITES_LOG, every database write (`db.run`, as the event loop awaits it: thread hop, insert
and commit) appends `START END` (epoch seconds) there, so the parent can derive the loss bound
from the write times this process really had.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from shareai.coordinator.app import Coordinator
from tests.coordinator.governance.conftest import ADMIN_KEY, coordinator_config, usage
from tests.coordinator.parts import governance_coordinator

T = TypeVar("T")


def _time_writes(coord: Coordinator, fd: int) -> None:
    run = coord.db.run

    async def timed(fn: Callable[[sqlite3.Connection], T]) -> T:
        start = time.time()
        result = await run(fn)
        os.write(fd, f"{start!r} {time.time()!r}\n".encode())  # one write(2) per line: never torn
        return result

    coord.db.run = timed  # type: ignore[method-assign]


async def main(data_dir: Path, log_path: Path | None) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    coord = governance_coordinator(coordinator_config(data_dir), admin_key=ADMIN_KEY)
    gov = coord.governance
    assert gov is not None
    await coord.start()
    if log_path is not None:
        _time_writes(coord, os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    print("ready", flush=True)
    i = 0
    while not stop.is_set():
        record = usage(time.time())
        record.extra["seq"] = i
        gov.record(record)
        print(f"{i} {record.ts!r}", flush=True)
        i += 1
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.005)
        except TimeoutError:
            pass
    await coord.stop()
    print("stopped", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None))
