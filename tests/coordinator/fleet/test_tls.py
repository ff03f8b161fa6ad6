"""The control plane over TLS ("[server] tls_cert/tls_key", `serve --tls-cert/--tls-key`), with a
self-signed certificate made for the test."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from typer.testing import CliRunner

from shareai.coordinator.app import TlsError
from shareai.coordinator.cli import app
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import ConfigError, parse_config
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc
from tests.coordinator.fleet.conftest import (
    ADMIN_KEY,
    DEADLINE_S,
    creds,
    make_config,
    register_request,
    self_signed_cert,
    start_coordinator,
)


async def test_enroll_register_heartbeat_over_tls_and_plaintext_is_refused(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path / "tls")
    coord = await start_coordinator(tmp_path / "coord", tls=(cert, key))
    try:
        fleet = coord.fleet.service
        info = await fleet.tokens.create(org="acme", ttl_s=60, uses=2, actor="t", now=coord.clock())
        tls = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        async with grpc.aio.secure_channel(coord.grpc_target, tls) as channel:
            stub = pb_grpc.FleetStub(channel)
            ident = await stub.Enroll(pb.EnrollRequest(token=info.token, name="rig"), timeout=DEADLINE_S)
            reg = await stub.Register(register_request(ident.node_id), metadata=creds(ident), timeout=DEADLINE_S)
            assert reg.data_plane_secret.startswith("dp_")
            hb = await stub.Heartbeat(pb.HeartbeatRequest(node_id=ident.node_id, seq=1), metadata=creds(ident),
                                      timeout=DEADLINE_S)
            assert not hb.reregister
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                                     timeout=DEADLINE_S)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
        assert [r.node_id for r in coord.fleet.directory.routes_for("m1", None)] == [ident.node_id]
        # A plaintext client cannot talk to it at all (not even Enroll), and does not use up the token.
        async with grpc.aio.insecure_channel(coord.grpc_target) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await pb_grpc.FleetStub(channel).Enroll(pb.EnrollRequest(token=info.token), timeout=DEADLINE_S)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert (await fleet.tokens.list())[0].uses_left == 1
    finally:
        await coord.stop(grace_s=1.0)


async def test_an_unusable_certificate_fails_the_start_with_one_clear_line(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path / "tls")
    for cert_path, key_path, words in ((tmp_path / "missing.pem", key, "cannot read the TLS certificate"),
                                       (cert, cert, "is not a PEM key")):
        with pytest.raises(TlsError, match=words):  # at construction: the certificate is checked first
            build_coordinator(make_config(tmp_path / "coord", tls=(cert_path, key_path)), admin_key=ADMIN_KEY)
        assert not (tmp_path / "coord").exists()  # failed before opening anything


def test_tls_keys_come_in_pairs_and_public_grpc_is_host_port(tmp_path: Path) -> None:
    cfg = parse_config({"server": {"tls_cert": "/c.pem", "tls_key": "/k.pem", "public_grpc": "coord.example:443"}})
    assert (cfg.tls_cert, cfg.tls_key, cfg.tls, cfg.public_grpc) == (Path("/c.pem"), Path("/k.pem"), True,
                                                                     "coord.example:443")
    assert not parse_config({}).tls
    with pytest.raises(ConfigError, match="go together"):
        parse_config({"server": {"tls_cert": "/c.pem"}})
    for bad in ("coord.example", "http://coord:1", "coord:port", "a b:1"):
        with pytest.raises(ConfigError, match="public_grpc"):
            parse_config({"server": {"public_grpc": bad}})


def test_serve_tls_flags_are_checked(tmp_path: Path) -> None:
    cert, _ = self_signed_cert(tmp_path / "tls")
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "d"), "--tls-cert", str(cert)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "tls_cert and server.tls_key go together" in result.stderr
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "d"), "--http-port", "0",
                                      "--grpc-port", "0", "--tls-cert", str(tmp_path / "nope.pem"),
                                      "--tls-key", str(tmp_path / "nope.pem")])
    assert result.exit_code == 1 and result.stderr.startswith("error: cannot read the TLS certificate")
