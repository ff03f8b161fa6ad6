"""A coordinator process that records one usage row every few milliseconds, for the kill -9 and
SIGTERM tests. Prints `ready`, then the sequence number of each record after it was handed to the
governor, so the parent knows exactly what the process had accepted when it died.

    python -m tests.coordinator.governance.usage_writer_proc DATA_DIR
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

from shareai.coordinator.app import Coordinator
from shareai.coordinator.governance import GovernanceSubsystem
from tests.coordinator.governance.conftest import ADMIN_KEY, coordinator_config, usage


async def main(data_dir: Path) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    gov = GovernanceSubsystem()
    coord = Coordinator(coordinator_config(data_dir), subsystems=[gov], admin_key=ADMIN_KEY)
    await coord.start()
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
    asyncio.run(main(Path(sys.argv[1])))
