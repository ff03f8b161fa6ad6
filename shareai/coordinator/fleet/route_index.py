"""Which registered nodes serve which model, for which org: the registry's routing index.

    index = RouteIndex()
    index.add("n1", org="acme", models=("gemma-3-270m",))   # on Register (again: replaces)
    index.ids("gemma-3-270m", "acme")                        # {"n1"}; org None: every org's
    index.models("acme")                                     # {"gemma-3-270m": {"n1"}}
    index.remove("n1")                                       # on deregistration, revocation, org delete

So a routing decision touches only the nodes of the asking org that serve the model, never the
whole fleet. Membership follows a node's registration only (its org and models change only by
registering again or leaving); state that changes per heartbeat (available, away, draining, alive,
revoked) is checked exactly by the registry on every lookup, so a node that stops heartbeating
leaves routing at once without the index having to notice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set

_NONE: frozenset[str] = frozenset()


class RouteIndex:
    def __init__(self) -> None:
        self._by_model: dict[str, set[str]] = {}  # model -> node ids, every org (org=None lookups)
        self._by_org: dict[str, dict[str, set[str]]] = {}  # org -> model -> node ids
        # What each node was indexed under, so removal undoes exactly that whatever the record says now.
        self._keys: dict[str, tuple[str, tuple[str, ...]]] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, node_id: str, *, org: str, models: Iterable[str]) -> None:
        """Index a registration; a node already indexed is replaced (re-registration)."""
        self.remove(node_id)
        names = tuple(dict.fromkeys(models))
        self._keys[node_id] = (org, names)
        for name in names:
            self._by_model.setdefault(name, set()).add(node_id)
            self._by_org.setdefault(org, {}).setdefault(name, set()).add(node_id)

    def remove(self, node_id: str) -> None:
        keys = self._keys.pop(node_id, None)
        if keys is None:
            return
        org, names = keys
        per_org = self._by_org.get(org, {})  # absent when the node listed no model
        for name in names:
            _discard(self._by_model, name, node_id)
            _discard(per_org, name, node_id)
        if not per_org:
            self._by_org.pop(org, None)  # no empty org left behind

    def ids(self, model: str, org: str | None) -> Set[str]:
        """The nodes registered for `model` in `org` (None: in any org). Read-only view."""
        if org is None:
            return self._by_model.get(model, _NONE)
        return self._by_org.get(org, {}).get(model, _NONE)

    def models(self, org: str | None) -> Mapping[str, Set[str]]:
        """Model name -> node ids, for `org` (None: every org). Read-only view."""
        if org is None:
            return self._by_model
        return self._by_org.get(org, {})


def _discard(index: dict[str, set[str]], name: str, node_id: str) -> None:
    ids = index.get(name)
    if ids is None:
        return
    ids.discard(node_id)
    if not ids:
        del index[name]
