"""The fleet's exception tree, mapped to gRPC status codes in one place (`grpc_status`).

    FleetError
     ├── EnrollmentRefused      UNAUTHENTICATED   (unknown, expired or used-up token)
     ├── NodeUnknown            NOT_FOUND         (admin asked about a node id that does not exist)
     ├── NodeRevoked            PERMISSION_DENIED (the admin revoked this node's identity)
     └── NodeNotRegistered      FAILED_PRECONDITION (admin asked to drain a node that is not registered)
"""

from __future__ import annotations

import grpc


class FleetError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EnrollmentRefused(FleetError):
    code = grpc.StatusCode.UNAUTHENTICATED


class NodeUnknown(FleetError):
    code = grpc.StatusCode.NOT_FOUND


class NodeRevoked(FleetError):
    code = grpc.StatusCode.PERMISSION_DENIED


class NodeNotRegistered(FleetError):
    code = grpc.StatusCode.FAILED_PRECONDITION


def grpc_status(err: FleetError) -> tuple[grpc.StatusCode, str]:
    return err.code, err.message
