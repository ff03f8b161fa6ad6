"""`NodeAgent`: a serving node that belongs to a coordinator.

    agent = NodeAgent(cfg, ident)        # cfg: AgentConfig (models, [control]); ident from enroll
    await agent.start()                  # listen, load models, register, heartbeat, watch availability
    await agent.wait()                   # until stopped, or the coordinator refuses the node
    await agent.stop()                   # drain: deregister, let in-flight finish (grace), close

The HTTP endpoint is locked from the first request: until the coordinator hands over its
data-plane secret at registration, only the local `api_key` gets in. Availability changes are
pushed at once (an immediate heartbeat) and the endpoint turns new work away with 503 while
in-flight generations get `grace_s` to finish before they are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import psutil

from shareai import __version__
from shareai.agent.config import AgentConfig
from shareai.agent.control.availability import (
    AlwaysOnPolicy,
    AvailabilityMonitor,
    IdlePolicy,
    Policy,
    ProcessUtilisation,
    UtilisationSource,
)
from shareai.agent.control.channel import open_channel
from shareai.agent.control.identity import NodeIdentity
from shareai.agent.control.session import ControlError, ControlSession
from shareai.agent.server import AgentServer, ModelPool, load_pools
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc
from shareai.wire.capabilities import CHAT, COMPLETIONS, EMBEDDINGS, LOGPROBS_ON, TOOL_FEATURES, node_features
from shareai.wire.tokens import new_secret

log = logging.getLogger(__name__)

def served_endpoints(pool: ModelPool) -> tuple[str, ...]:
    """An embedding model serves `/v1/embeddings` only; a generative one chat and completions."""
    return (EMBEDDINGS,) if pool.embeddings else (CHAT, COMPLETIONS)


def advertised_features(pool: ModelPool) -> dict[str, pb.FeatureList]:
    """What this model accepts per endpoint, as the coordinator routes by it: the features the
    node's strict validator accepts (derived by probing it), less what the model's backend cannot
    do (the server refuses those for such a model): logprobs, tools, shortened embeddings."""
    out = {}
    for endpoint in served_endpoints(pool):
        names = node_features(endpoint)
        if not pool.supports_logprobs:
            names -= {LOGPROBS_ON}
        if not pool.supports_tools:
            names -= TOOL_FEATURES
        if not pool.supports_dimensions:
            names -= {"dimensions"}
        out[endpoint] = pb.FeatureList(names=sorted(names))
    return out


class GpuLoadSource(Protocol):
    """What heartbeats need from the GPUs (`hardware.GpuSampler` in production)."""

    def sample(self) -> Sequence[Any]:  # items have .to_proto(), .utilization_pct, .power_w
        ...

    def close(self) -> None:
        ...


class _NoGpus:
    def sample(self) -> Sequence[Any]:
        return []

    def close(self) -> None:
        pass


def _default_host() -> pb.HostInfo:
    from shareai.agent.hardware.detect import detect

    return detect().to_proto(agent_version=__version__)


def _default_gpus() -> GpuLoadSource:
    from shareai.agent.hardware.sampler import GpuSampler

    return GpuSampler()


class NodeAgent:
    def __init__(
        self,
        cfg: AgentConfig,
        ident: NodeIdentity,
        *,
        pools: Sequence[ModelPool] | None = None,
        host_info: pb.HostInfo | None = None,
        gpus: GpuLoadSource | None = None,
        utilisation: UtilisationSource | None = None,
        clock: Callable[[], float] = time.monotonic,
        local_time: Callable[[], dt.time] = lambda: dt.datetime.now().time(),
        sample_period_s: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self.cfg = cfg
        self.control = cfg.control
        self.ident = ident
        self._pools = pools
        self._host_info = host_info
        self._gpus = gpus
        self._utilisation = utilisation
        self._clock = clock
        self._local_time = local_time
        self._sample_period_s = sample_period_s
        self._rng = rng
        self.server = AgentServer([], api_key=cfg.api_key, max_body_bytes=cfg.max_body_bytes)
        self.port = 0
        self.endpoint_url = ""
        self.state: int = pb.AVAILABILITY_STATE_AVAILABLE
        self.session: ControlSession | None = None
        self.monitor: AvailabilityMonitor | None = None
        self._channel: Any = None
        self._stop = asyncio.Event()
        self._session_task: asyncio.Task[None] | None = None
        self._grace_task: asyncio.Task[None] | None = None
        self._stopped = False

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        # Locked from the first request: a throwaway secret nobody knows, replaced at registration.
        self.server.set_data_plane_secret(new_secret("locked_"))
        self.port = await self.server.start(self.cfg.host, self.cfg.port)
        self.endpoint_url = self.control.advertise_url or f"http://127.0.0.1:{self.port}/v1"
        pools = list(self._pools) if self._pools is not None else await load_pools(self.cfg.models)
        self.server.set_models(pools)
        if self._host_info is None:
            self._host_info = await asyncio.to_thread(_default_host)
        if self._gpus is None:
            self._gpus = _NoGpus() if self._utilisation is not None else _default_gpus()
        self.monitor = AvailabilityMonitor(
            self._policy(), self._utilisation or self._default_utilisation(), self._on_availability,
            period_s=self._sample_period_s, clock=self._clock, local_time=self._local_time,
        )
        self.monitor.check()  # the state we register with
        target = self.control.coordinator or self.ident.coordinator
        self._channel = open_channel(target, tls=self.control.tls, ca_file=self.control.tls_ca)
        self.session = ControlSession(
            pb_grpc.FleetStub(self._channel), self.ident, describe=self.describe, snapshot=self.snapshot,
            on_registered=self._on_registered, on_drain=self._on_drain, rng=self._rng, tls=self.control.tls,
        )
        self._session_task = asyncio.get_running_loop().create_task(self.session.run(self._stop), name="control")
        self.monitor.start()
        log.info("node %s serving %s at %s, coordinator %s", self.ident.node_id,
                 ", ".join(p.name for p in pools), self.endpoint_url, target)

    async def wait(self) -> None:
        """Until `stop()` or the control loop ends; raises the loop's `ControlError` if it failed."""
        assert self._session_task is not None
        await asyncio.wait([self._session_task], return_when=asyncio.FIRST_COMPLETED)
        if not self._session_task.cancelled() and self._session_task.exception() is not None:
            raise self._session_task.exception()  # type: ignore[misc]

    async def stop(self, reason: str = "shutdown") -> None:
        """Graceful: out of routing first, then in-flight work gets the grace period, then close."""
        if self._stopped:
            return
        self._stopped = True
        self.server.set_accepting(False)
        self.state = pb.AVAILABILITY_STATE_DRAINING
        if self.monitor is not None:
            await self.monitor.stop()
        self._stop.set()
        if self._session_task is not None:
            with contextlib.suppress(Exception):
                await self._session_task
        if self.session is not None and self.session.registered.is_set():
            await self.session.deregister(reason)
        if not await self.server.wait_idle(self.control.grace_s):
            log.warning("cancelling %d generation(s) still running after %.0fs", self.server.inflight,
                        self.control.grace_s)
        await self._cancel_grace()
        await self.server.stop()
        if self._channel is not None:
            await self._channel.close()
        if self._gpus is not None:
            self._gpus.close()

    # -- what we tell the coordinator ------------------------------------------------------------

    def describe(self) -> pb.RegisterRequest:
        c = self.control
        price = pb.Price()
        if c.price_input_per_mtok is not None and c.price_output_per_mtok is not None:
            price = pb.Price(set=True, input_per_mtok=c.price_input_per_mtok, output_per_mtok=c.price_output_per_mtok)
        return pb.RegisterRequest(
            node_id=self.ident.node_id,
            name=self.ident.name,
            host=self._host_info,
            models=[pb.ModelInfo(name=m.name, slots=m.slots, n_ctx=m.n_ctx, queue_limit=m.queue_limit,
                                 endpoints=list(served_endpoints(pool)), features=advertised_features(pool))
                    for pool in self.server.models for m in (pool.load(),)],
            endpoint_url=self.endpoint_url,
            mode=pb.AVAILABILITY_MODE_IDLE if c.availability == "idle" else pb.AVAILABILITY_MODE_ALWAYS_ON,
            state=self.state,  # type: ignore[arg-type]
            price=price,
        )

    def snapshot(self) -> pb.HeartbeatRequest:
        gpus = list(self._gpus.sample()) if self._gpus is not None else []
        powers = [g.power_w for g in gpus if g.power_w is not None]
        return pb.HeartbeatRequest(
            node_id=self.ident.node_id,
            state=self.state,  # type: ignore[arg-type]
            models=[pb.ModelLoad(name=m.name, slots_busy=m.busy, slots_free=m.free, queue_depth=m.queue_depth)
                    for m in self.server.load()],
            gpus=[g.to_proto() for g in gpus],
            cpu_pct=psutil.cpu_percent(None),
            ram_used_bytes=psutil.virtual_memory().used,
            has_power=bool(powers),
            power_w=sum(powers),
            inflight=self.server.inflight,
        )

    # -- reactions -------------------------------------------------------------------------------

    def _policy(self) -> Policy:
        c = self.control
        window = c.parsed_window()
        if c.availability == "idle":
            return IdlePolicy(cpu_pct=c.idle_cpu, gpu_pct=c.idle_gpu, hold_s=c.idle_hold_s, window=window)
        return AlwaysOnPolicy(window=window)

    def _default_utilisation(self) -> UtilisationSource:
        gpus = self._gpus

        def gpu_util() -> list[float]:
            samples = gpus.sample() if gpus is not None else []
            return [s.utilization_pct for s in samples if s.utilization_pct is not None]

        return ProcessUtilisation(gpu_sample=gpu_util, busy=lambda: self.server.inflight > 0)

    def _on_registered(self, resp: pb.RegisterResponse) -> None:
        self.server.set_data_plane_secret(resp.data_plane_secret)

    def _on_availability(self, available: bool) -> None:
        if self._stopped or self.state == pb.AVAILABILITY_STATE_DRAINING:
            return
        if available:
            self._cancel_grace_soon()
            self.state = pb.AVAILABILITY_STATE_AVAILABLE
            self.server.set_accepting(True)
        else:
            self.state = pb.AVAILABILITY_STATE_AWAY
            self.server.set_accepting(False)
            if self._grace_task is None and self.server.inflight:
                self._grace_task = asyncio.get_running_loop().create_task(self._grace(), name="grace")
        if self.session is not None:
            self.session.beat_now()

    def _on_drain(self) -> None:
        log.info("the coordinator asks this node to drain")
        self.state = pb.AVAILABILITY_STATE_DRAINING
        self.server.set_accepting(False)
        if self.session is not None:
            self.session.beat_now()

    async def _grace(self) -> None:
        try:
            if not await self.server.wait_idle(self.control.grace_s):
                log.info("grace period over: cancelling %d in-flight generation(s)", self.server.inflight)
                self.server.cancel_all()
        finally:
            self._grace_task = None

    def _cancel_grace_soon(self) -> None:
        if self._grace_task is not None:
            self._grace_task.cancel()
            self._grace_task = None

    async def _cancel_grace(self) -> None:
        task, self._grace_task = self._grace_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


__all__ = ["ControlError", "NodeAgent"]
