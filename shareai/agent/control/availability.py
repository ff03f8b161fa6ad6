"""When this machine serves: always-on, or idle-time (while its owner is not using it).

    policy = IdlePolicy(cpu_pct=20, gpu_pct=10, hold_s=120, window=Window.parse("22:00-07:00"))
    available = policy.update(Utilisation(cpu_pct=3.0, gpu_pct=0.0), now=clock(), local=datetime.now().time())

`IdlePolicy.update` is pure arithmetic over what it is given (no clock, no sampling): the machine
turns away at once when other processes' CPU or GPU use crosses a threshold (or the window
closes), and comes back only after they stayed below for `hold_s`. `AvailabilityMonitor` samples a
`UtilisationSource` on a period and reports flips; tests inject both the source and the clock.

"Other processes": the agent's own CPU time is subtracted from the system's. GPU utilisation is
per device, not per process, so while the agent itself has work in flight the GPU reading cannot
tell the owner's use from ours and is ignored (the CPU reading still applies).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import psutil

log = logging.getLogger(__name__)

MODES = ("always-on", "idle")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Window:
    """A daily time window; `end < start` wraps past midnight (22:00-07:00)."""

    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str) -> Window:
        parts = text.strip().split("-")
        if len(parts) != 2:
            raise ValueError(f"invalid window {text!r}: use HH:MM-HH:MM")
        times = []
        for part in parts:
            m = _HHMM.match(part.strip())
            if m is None:
                raise ValueError(f"invalid window {text!r}: use HH:MM-HH:MM")
            times.append(dt.time(int(m.group(1)), int(m.group(2))))
        if times[0] == times[1]:
            raise ValueError(f"invalid window {text!r}: start and end are the same")
        return cls(times[0], times[1])

    def contains(self, t: dt.time) -> bool:
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class Utilisation:
    """Other processes' use of the machine, in percent; `gpu_pct` None where unknown."""

    cpu_pct: float
    gpu_pct: float | None = None


class UtilisationSource(Protocol):
    def sample(self) -> Utilisation:
        ...


class Policy(Protocol):
    def update(self, util: Utilisation, now: float, local: dt.time) -> bool:
        """Whether the node is available, given a fresh reading."""
        ...


@dataclass(slots=True)
class AlwaysOnPolicy:
    window: Window | None = None

    def update(self, util: Utilisation, now: float, local: dt.time) -> bool:
        return self.window is None or self.window.contains(local)


@dataclass(slots=True)
class IdlePolicy:
    cpu_pct: float = 20.0
    gpu_pct: float = 10.0
    hold_s: float = 120.0
    window: Window | None = None
    quiet_since: float | None = None  # when the machine last became quiet (None: busy now)

    def update(self, util: Utilisation, now: float, local: dt.time) -> bool:
        busy = util.cpu_pct >= self.cpu_pct or (util.gpu_pct is not None and util.gpu_pct >= self.gpu_pct)
        if busy:
            self.quiet_since = None
        elif self.quiet_since is None:
            self.quiet_since = now
        if self.window is not None and not self.window.contains(local):
            return False
        return self.quiet_since is not None and now - self.quiet_since >= self.hold_s


class ProcessUtilisation:
    """psutil (CPU) and an optional GPU sampler: the share of the machine other processes use."""

    def __init__(self, gpu_sample: Callable[[], list[float]] | None = None,
                 busy: Callable[[], bool] | None = None) -> None:
        self._proc = psutil.Process()
        self._ncpu = psutil.cpu_count() or 1
        self._gpu_sample = gpu_sample
        self._busy = busy or (lambda: False)
        psutil.cpu_percent(None)  # prime: the first reading of a counter pair is meaningless
        self._proc.cpu_percent(None)

    def sample(self) -> Utilisation:
        total = psutil.cpu_percent(None)
        own = self._proc.cpu_percent(None) / self._ncpu
        gpu = None
        if self._gpu_sample is not None and not self._busy():
            readings = self._gpu_sample()
            gpu = max(readings) if readings else None
        return Utilisation(cpu_pct=max(0.0, total - own), gpu_pct=gpu)


class AvailabilityMonitor:
    """Samples `source` every `period_s` and calls `on_change(available)` when the policy flips."""

    def __init__(
        self,
        policy: Policy,
        source: UtilisationSource,
        on_change: Callable[[bool], None],
        *,
        period_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        local_time: Callable[[], dt.time] = lambda: dt.datetime.now().time(),
    ) -> None:
        self._policy = policy
        self._source = source
        self._on_change = on_change
        self._period_s = period_s
        self._clock = clock
        self._local_time = local_time
        self.available: bool | None = None
        self._task: asyncio.Task[None] | None = None

    def check(self) -> bool:
        """One reading; reports a flip. Returns the current availability."""
        available = self._policy.update(self._source.sample(), self._clock(), self._local_time())
        if available != self.available:
            first = self.available is None
            self.available = available
            if not first or not available:
                log.info("availability: %s", "available" if available else "away")
            self._on_change(available)
        return available

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="availability")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._period_s)
            try:
                self.check()
            except Exception:  # a sampling hiccup must not end the policy for good
                log.exception("availability check failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
