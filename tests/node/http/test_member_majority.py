"""etcd's strict reconfiguration check, alone: the configuration after a change must have a
majority connected to the leader now (the leader and a probed newcomer count)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from lithair_node.node.errors import Conflict
from lithair_node.node.http.member_checks import check_majority_stays
from lithair_node.node.raft.types import PeerStatus

ME = "10.0.0.1:9001"


def leader_seeing(**connected: bool) -> Any:
    peers = tuple(PeerStatus(address, up, None, None) for address, up in connected.items())
    status = SimpleNamespace(peers=peers)
    return SimpleNamespace(config=SimpleNamespace(raft_address=ME),
                           raft=SimpleNamespace(status=lambda: status))


def peers(*states: bool) -> dict[str, bool]:
    return {f"10.0.0.{i + 2}:9001": up for i, up in enumerate(states)}


@pytest.mark.parametrize(("others", "action", "address", "allowed"), [
    (peers(True, True), "add", "10.0.0.9:9001", True),       # 4 of 4
    (peers(True, False), "add", "10.0.0.9:9001", True),      # 3 of 4
    (peers(False, False), "add", "10.0.0.9:9001", False),    # 2 of 4
    (peers(True, False, False, True), "add", "10.0.0.9:9001", True),   # 4 of 6
    (peers(True, False, False, False), "add", "10.0.0.9:9001", False),  # 3 of 6
    (peers(True, True), "remove", "10.0.0.2:9001", True),    # 2 of 2
    (peers(True, False), "remove", "10.0.0.2:9001", False),  # 1 of 2
    (peers(True, False), "remove", "10.0.0.3:9001", True),   # removing the dead one: 2 of 2
    (peers(True, False), "remove", ME, False),               # the leader: 1 of 2 left
    (peers(True, True), "remove", ME, True),                 # the leader: 2 of 2 left
])
def test_majority_after_the_change(others: dict[str, bool], action: str, address: str,
                                   allowed: bool) -> None:
    node = leader_seeing(**others)
    if allowed:
        check_majority_stays(node, action, address)
    else:
        with pytest.raises(Conflict, match="not a majority"):
            check_majority_stays(node, action, address)
