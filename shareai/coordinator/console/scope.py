"""Who sees what in the console: established once per request, from the session, and passed down.

    viewer = Viewer.of(user)
    org = viewer.org_filter(request.query.get("org"))   # None: every org (owners only)
    viewer.require("admin")                             # 403 for a member
    viewer.require_org(node.org)                        # 404 for another org's thing

An owner sees the deployment and may narrow it with `?org=`; an admin or member is pinned to their
org whatever a request names (another org's name is refused, its things are "not found").
"""

from __future__ import annotations

from dataclasses import dataclass

from shareai.coordinator.console.accounts import User
from shareai.wire.errors import InvalidRequest, NotFound, PermissionDenied

_RANK = {"member": 0, "admin": 1, "owner": 2}


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: str
    email: str
    role: str
    org: str | None  # None only for owners

    @classmethod
    def of(cls, user: User) -> Viewer:
        return cls(user.id, user.email, user.role, user.org)

    @property
    def actor(self) -> str:
        return f"user:{self.email}"

    @property
    def owner(self) -> bool:
        return self.role == "owner"

    def require(self, role: str) -> None:
        if _RANK[self.role] < _RANK[role]:
            raise PermissionDenied(f"This needs the '{role}' role; you are '{self.role}'.", code="role_required")

    def org_filter(self, asked: str | None) -> str | None:
        """The org a read is limited to: an owner's choice (None: all), else the viewer's own."""
        if self.owner:
            return asked or None
        if asked and asked != self.org:
            raise PermissionDenied("You can only see your own org.", param="org", code="org_forbidden")
        return self.org

    def target_org(self, asked: object) -> str:
        """The one org a change applies to: owners must name it, others get their own."""
        if self.owner:
            if not isinstance(asked, str) or not asked:
                raise InvalidRequest("Choose an org.", param="org")
            return asked
        if asked not in (None, "", self.org):
            raise PermissionDenied("You can only change your own org.", param="org", code="org_forbidden")
        assert self.org is not None
        return self.org

    def require_org(self, org: str | None, what: str) -> None:
        """Another org's thing does not exist for this viewer (404, the same as an unknown id)."""
        if not self.owner and org != self.org:
            raise NotFound(f"No {what} with that id.", code="not_found")
