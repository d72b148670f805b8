"""What a membership change must pass before anything is proposed.

1. The address: `host:port`, ASCII digits, a port in range, a host that resolves, and not
   to a member's address.
2. A newcomer proves it answers on its Raft port with our password (membership_probe.py:
   PySyncObj has no non-voting members, so this is checked before it becomes a voter).
3. etcd's strict reconfiguration check: the configuration after the change must have a
   majority that is connected to the leader right now (the leader itself counts, and so
   does a newcomer that just passed the probe). Otherwise the change would leave the
   cluster without a working majority: refused (409) and nothing proposed.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from lithair_node.node.errors import Conflict, InvalidMember, InvalidParameter
from lithair_node.node.http.context import NodeContext
from lithair_node.node.raft.membership_probe import ProbeOutcome

FIELD = "raft_address"
RESOLVE_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 3.0


def parse_member_address(value: Any) -> tuple[str, int]:
    if not isinstance(value, str):
        raise InvalidParameter('give the member as {"raft_address": "host:port"}', field=FIELD)
    host, sep, port_text = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or any(c.isspace() for c in value) or \
            not (port_text.isascii() and port_text.isdigit()):
        raise InvalidParameter(f"raft_address {value!r} must look like host:port", field=FIELD)
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise InvalidParameter(f"raft_address {value!r}: port must be 1-65535", field=FIELD)
    return host, port


async def _endpoints(host: str, port: int) -> set[tuple[str, int]]:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(RESOLVE_TIMEOUT_S):
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return {(str(info[4][0]), int(info[4][1])) for info in infos}


async def check_resolves_to_a_new_node(node: NodeContext, host: str, port: int) -> None:
    """422 unless the host resolves; 409 if it names a member under another spelling
    (`localhost:9001` for `127.0.0.1:9001`): that would be one node counted as two voters."""
    try:
        endpoints = await _endpoints(host, port)
    except (OSError, UnicodeError, TimeoutError) as exc:
        raise InvalidMember(f"raft_address host {host!r} does not resolve: {exc or 'timeout'}",
                            field=FIELD) from None
    status = node.raft.status()
    for member in (node.config.raft_address, *(peer.raft_address for peer in status.peers)):
        member_host, member_port = parse_member_address(member)
        try:
            same = endpoints & await _endpoints(member_host, member_port)
        except (OSError, UnicodeError, TimeoutError):
            continue  # a member that does not resolve now cannot be this live address
        if same:
            raise Conflict(f"{host}:{port} is the member {member} under another name",
                           field=FIELD)


async def check_answers_with_password(node: NodeContext, host: str, port: int) -> None:
    outcome = await asyncio.to_thread(node.raft.probe_member, host, port, PROBE_TIMEOUT_S)
    if outcome is not ProbeOutcome.OK:
        raise InvalidMember(f"{host}:{port} cannot join: {outcome.value}. Start the new node "
                            "first (same --raft-password, --peers listing the members), "
                            "then add it", field=FIELD)


def check_majority_stays(node: NodeContext, action: str, address: str) -> None:
    """409 unless a majority of the configuration after the change is connected now."""
    status = node.raft.status()
    me = node.config.raft_address
    members = {me, *(peer.raft_address for peer in status.peers)}
    connected = {me, *(peer.raft_address for peer in status.peers if peer.connected)}
    if action == "add":
        after, connected = members | {address}, connected | {address}
    else:
        after = members - {address}
    reachable = len(after & connected)
    if 2 * reachable <= len(after):
        down = ", ".join(sorted(after - connected)) or "none"
        raise Conflict(f"refused: after this change only {reachable} of {len(after)} members "
                       f"would be connected to the leader, not a majority (not connected: "
                       f"{down}). Bring members back first, or remove the dead ones",
                       field=FIELD)
