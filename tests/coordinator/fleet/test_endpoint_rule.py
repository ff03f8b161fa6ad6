"""Which endpoint_url a node may advertise (fleet/endpoints.py), as a rule and through a real Register."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import grpc
import pytest

from shareai.agent.control.enroll import enroll
from shareai.agent.control.session import ControlError
from shareai.coordinator.config import ConfigError, parse_config
from shareai.coordinator.fleet.endpoints import EndpointRule, peer_address
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc
from tests.agent.control.conftest import make_agent, new_token
from tests.coordinator.fleet.conftest import (
    ADMIN_KEY,
    DEADLINE_S,
    Harness,
    creds,
    make_config,
    register_request,
    start_coordinator,
)
from tests.coordinator.parts import fleet_coordinator

LOCAL = "ipv4:127.0.0.1:50123"
LAN = "ipv4:192.168.1.20:50123"


def test_peer_addresses_of_grpc_peer_strings() -> None:
    assert peer_address(LOCAL) == ipaddress.ip_address("127.0.0.1")
    assert peer_address("ipv6:[::1]:4000") == ipaddress.ip_address("::1")
    assert peer_address("ipv6:[::ffff:10.1.2.3]:4000") == ipaddress.ip_address("10.1.2.3")
    assert peer_address("unix:/tmp/sock") is None and peer_address("garbage") is None


@pytest.mark.parametrize(("url", "peer"), [
    ("http://192.168.1.20:8000/v1", LAN),            # its own address
    ("https://192.168.1.20/v1", LAN),
    ("http://127.0.0.1:8000/v1", LOCAL),             # same machine as the coordinator
    ("http://localhost:8000/v1", LOCAL),
    ("http://[::1]:8000/v1", LOCAL),
    ("http://[::1]:8000/v1", "ipv6:[::1]:999"),
    ("http://192.168.1.20:8000/v1", "ipv6:[::ffff:192.168.1.20]:999"),
])
def test_allowed_endpoints(url: str, peer: str) -> None:
    assert EndpointRule().check(url, peer) is None


@pytest.mark.parametrize(("url", "peer", "reason"), [
    ("http://169.254.169.254/latest/meta-data", LOCAL, "neither the address"),   # cloud metadata
    ("http://10.0.0.1:8080/admin", LOCAL, "neither the address"),                # another machine
    ("http://127.0.0.1:8080/v1", LAN, "neither the address"),                    # the coordinator's own ports
    ("http://localhost:8080/v1", LAN, "must be an IP address"),
    ("http://node.example:8000/v1", LAN, "must be an IP address"),               # names are never resolved
    ("http://192.168.1.20:8000/v1", "unix:/tmp/sock", "neither the address"),
    ("ftp://192.168.1.20/v1", LAN, "http(s)"),
    ("http:///v1", LAN, "http(s)"),
    ("http://192.168.1.20:99999/v1", LAN, "not a valid URL"),
    # Two parsers must never disagree about the host the coordinator will dial.
    ("http://127.0.0.1:8000@169.254.169.254/", LOCAL, "user or password"),
    ("http://169.254.169.254\\@127.0.0.1/", LOCAL, "backslashes"),
    ("http://169.254.169.254#@127.0.0.1/", LOCAL, "neither the address"),
    ("http://user@127.0.0.1:8000/v1", LOCAL, "user or password"),
    ("http://127.0.0.1 /v1", LOCAL, "spaces"),
    ("http://[::ffff:169.254.169.254]/", LOCAL, "neither the address"),
    # Numeric forms that only a resolver turns into an address are names here, and refused.
    ("http://2130706433:8000/v1", LOCAL, "must be an IP address"),
    ("http://127.1:8000/v1", LOCAL, "must be an IP address"),
    ("http://0x7f.1:8000/v1", LOCAL, "must be an IP address"),
    ("http://169.254.169.254.nip.io/", LOCAL, "must be an IP address"),
])
def test_refused_endpoints(url: str, peer: str, reason: str) -> None:
    refused = EndpointRule().check(url, peer)
    assert refused is not None and reason in refused


def test_allowed_networks_admit_other_hosts_by_cidr_only() -> None:
    rule = EndpointRule(allowed_networks=(ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")))
    assert rule.check("http://10.0.0.1:8000/v1", LOCAL) is None
    assert rule.check("http://[fd00::5]:8000/v1", LAN) is None
    assert rule.check("http://169.254.169.254/", LOCAL) is not None
    assert rule.check("http://node.example/v1", LOCAL) is not None


def test_allowed_networks_config_is_validated() -> None:
    cfg = parse_config({"nodes": {"allowed_networks": ["10.0.0.0/8", "fd00::/8", "192.168.1.7/24"]}})
    assert [str(n) for n in cfg.node_networks] == ["10.0.0.0/8", "fd00::/8", "192.168.1.0/24"]
    assert parse_config({}).node_networks == ()
    for bad in (["10.0.0.0/33"], ["lan"], [10]):
        with pytest.raises(ConfigError, match="allowed_networks"):
            parse_config({"nodes": {"allowed_networks": bad}})
    with pytest.raises(ConfigError):
        parse_config({"nodes": {"allowed_networks": "10.0.0.0/8"}})


async def _register(stub: pb_grpc.FleetStub, ident: pb.EnrollResponse, url: str) -> pb.RegisterResponse:
    req = register_request(ident.node_id)
    req.endpoint_url = url
    resp: pb.RegisterResponse = await stub.Register(req, metadata=creds(ident), timeout=DEADLINE_S)
    return resp


async def test_register_refuses_endpoints_off_the_nodes_own_address(harness: Harness) -> None:
    ident = await harness.enroll()
    for url in ("http://169.254.169.254/latest/meta-data", "http://10.0.0.1:8080/v1", "http://evil.example/v1"):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _register(harness.stub, ident, url)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "endpoint_url" in (err.value.details() or "")
        assert harness.fleet.registry.get(ident.node_id) is None
    await _register(harness.stub, ident, "http://localhost:8000/v1")
    await _register(harness.stub, ident, "http://127.0.0.1:8000/v1")
    node = harness.fleet.registry.get(ident.node_id)
    assert node is not None and node.endpoint_url == "http://127.0.0.1:8000/v1"


async def test_register_accepts_hosts_inside_allowed_networks(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    cfg.node_networks = (ipaddress.ip_network("10.0.0.0/8"),)
    coord = fleet_coordinator(cfg, admin_key=ADMIN_KEY)
    await coord.start()
    try:
        fleet = coord.fleet.service
        token = await fleet.tokens.create(org="acme", ttl_s=60, uses=1, actor="test", now=fleet.clock())
        async with grpc.aio.insecure_channel(coord.grpc_target) as channel:
            stub = pb_grpc.FleetStub(channel)
            ident = await stub.Enroll(pb.EnrollRequest(token=token.token, name="nat"), timeout=DEADLINE_S)
            await _register(stub, ident, "http://10.0.0.1:8000/v1")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await _register(stub, ident, "http://169.254.169.254/")
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        node = fleet.registry.get(ident.node_id)
        assert node is not None and node.endpoint_url == "http://10.0.0.1:8000/v1"
    finally:
        await coord.stop(grace_s=1.0)


async def test_an_agent_advertising_another_host_stops_with_the_coordinators_reason(tmp_path: Path) -> None:
    coord = await start_coordinator(tmp_path / "coord", interval_s=1.0)
    try:
        ident = await enroll(coord.grpc_target, await new_token(coord), data_dir=tmp_path / "agent", name="rig")
        agent = make_agent(ident, advertise_url="http://169.254.169.254/v1")
        await agent.start()
        try:
            with pytest.raises(ControlError) as err:
                await agent.wait()
            assert "INVALID_ARGUMENT" in str(err.value) and "endpoint_url host 169.254.169.254" in str(err.value)
        finally:
            await agent.stop()
        assert coord.fleet.directory.routes_for("m1", None) == []
    finally:
        await coord.stop(grace_s=1.0)
