"""The OpenAPI 3.1 description of the coordinator's HTTP API (`/v1`, `/admin/v1`, operations, install).

    schemas.py     the JSON Schemas of request and response bodies (components.schemas)
    paths.py       one operation per registered route, with its parameters and error responses
    document.py    `build_document()`: the whole description (security schemes, headers, errors)
    subsystem.py   `OpenApiSubsystem`: serves it at `GET /openapi.json` (no key needed), cut to the
                   routes this coordinator serves (no governance: no org/key/limit routes)

Built in Python from the same constants the handlers check (policies, groups, name patterns), and
checked against the code by the tests: every route of the coordinator's app is described with its
method and nothing else is (tests/coordinator/openapi/).
"""

from shareai.coordinator.openapi.document import build_document
from shareai.coordinator.openapi.subsystem import (
    ROUTE,
    OpenApiSubsystem,
    described_operations,
    restricted,
    served_operations,
)

__all__ = ["ROUTE", "OpenApiSubsystem", "build_document", "described_operations", "restricted", "served_operations"]
