"""Enrollment: trade a one-time token for a node identity, kept in the data dir.

    ident = await enroll("coord:50051", token, name="lab-rig", data_dir=path, host=host_info)

An already-enrolled node (identity file present) sends its id and, as proof, its current secret, so
the coordinator keeps the id (a new secret replaces the old one). Without valid proof (or when the
id was revoked) the coordinator enrolls the machine under a new id, and that is what is saved.
Refusals (unknown, used, expired token) are `EnrollmentFailed` with
the coordinator's one-line reason and exit code 2; an unreachable coordinator is exit code 1.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from shareai.agent.control.channel import connection_hint, open_channel
from shareai.agent.control.identity import NodeIdentity, load_identity, save_identity
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc


class EnrollmentFailed(RuntimeError):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


async def enroll(
    target: str,
    token: str,
    *,
    data_dir: Path,
    name: str = "",
    host: pb.HostInfo | None = None,
    tls: bool = False,
    ca_file: Path | None = None,
    timeout_s: float = 10.0,
) -> NodeIdentity:
    previous = load_identity(data_dir)
    request = pb.EnrollRequest(token=token.strip(), name=name, host=host or pb.HostInfo(),
                               node_id=previous.node_id if previous else "",
                               node_secret=previous.node_secret if previous else "")
    async with open_channel(target, tls=tls, ca_file=ca_file) as channel:
        try:
            resp: pb.EnrollResponse = await pb_grpc.FleetStub(channel).Enroll(request, timeout=timeout_s)
        except grpc.aio.AioRpcError as err:
            code = err.code()
            details = err.details() or code.name
            hint = connection_hint(details, tls=tls)
            if hint:
                raise EnrollmentFailed(f"cannot connect to the coordinator at {target}: {hint}", 1) from None
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise EnrollmentFailed(f"cannot reach the coordinator at {target}: {details}", 1) from None
            raise EnrollmentFailed(f"enrollment refused: {err.details()}", 2) from None
    ident = NodeIdentity(node_id=resp.node_id, node_secret=resp.node_secret, org=resp.org, coordinator=target,
                         name=name or (previous.name if previous else "") or request.host.hostname)
    save_identity(data_dir, ident)
    return ident
