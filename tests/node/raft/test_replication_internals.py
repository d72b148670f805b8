"""node/raft/ relies on a few PySyncObj 0.3.17 internals: fail loudly if they move."""

import inspect
import re
import subprocess
import sys
import textwrap

import pysyncobj
import pysyncobj.journal
import pysyncobj.monotonic
import pysyncobj.pickle
import pysyncobj.pipe_notifier
import pysyncobj.transport
import pytest
from cryptography.exceptions import InvalidTag
from pysyncobj import FAIL_REASON, SERIALIZER_STATE, SyncObj, tcp_connection
from pysyncobj import syncobj as syncobj_module
from pysyncobj.serializer import Serializer
from pysyncobj.tcp_connection import TcpConnection
from pysyncobj.version import VERSION

from lithair_node.node.raft import prevote, raft_node, wire
from lithair_node.node.raft.raft_node import FAILURES


def test_pinned_version() -> None:
    assert VERSION == "0.3.17", "node/raft/ was written against PySyncObj 0.3.17"
    assert pysyncobj.SyncObjConf().autoTick is True


def test_private_members_we_use_exist() -> None:
    assert hasattr(SyncObj, "_SyncObj__getEntries")
    assert "self.__serializer = Serializer(" in inspect.getsource(SyncObj.__init__)
    assert "self.__raftLastApplied += 1" in inspect.getsource(SyncObj._SyncObj__applyLogEntries)
    init = inspect.getsource(SyncObj.__init__)
    assert "self.__raftElectionDeadline = monotonicTime() + self.__generateRaftTimeout()" in init
    assert "self.__transferInProgress = False" in init
    assert "self.__raftLog = createJournal(" in init
    # ReplicatedLog turns this one into RaftBindError.
    assert "raise SyncObjException('BindError') # Backwards compatibility" in init
    assert "self.__raftElectionDeadline < monotonicTime()" in inspect.getsource(SyncObj._onTick)
    assert "self._onTick(timeToWait)" in inspect.getsource(SyncObj.doTick)
    assert "self.__transmissions = {}" in inspect.getsource(Serializer.__init__)
    # The acknowledgement override (ReplicatedLog._SyncObj__onMessageReceived) replaces the
    # callback PySyncObj registers under this name and corrects what it does to nextIndex.
    assert "setOnMessageReceivedCallback(self.__onMessageReceived)" in init
    assert "self.__pipeNotifier = PipeNotifier(self._poller)" in init  # hurry_solo_commit
    assert "self.__otherNodes = set()" in init
    received = inspect.getsource(SyncObj._SyncObj__onMessageReceived)
    assert "if self.__raftMatchIndex[node] < currentNodeIdx:" in received
    assert "self.__raftNextIndex[node] = nextNodeIdx" in received
    for name in ("checkSerializing", "serialize", "deserialize", "getTransmissionData",
                 "setTransmissionData", "cancelTransmisstion"):
        assert hasattr(Serializer, name), name


def test_every_failure_reason_is_mapped() -> None:
    reasons = {v for k, v in vars(FAIL_REASON).items() if k.isupper()} - {FAIL_REASON.SUCCESS}
    assert reasons == set(FAILURES)
    assert (SERIALIZER_STATE.SERIALIZING, SERIALIZER_STATE.SUCCESS) == (1, 2)


# -- the Raft wire format (wire.py) -------------------------------------------------------


def test_transport_internals_we_replace_are_where_we_expect() -> None:
    send = inspect.getsource(TcpConnection.send)
    assert "data = zlib.compress(pickle.dumps(message), 3)" in send
    assert "self.encryptor.encrypt_at_time(data, int(monotonicTime()))" in send
    parse = inspect.getsource(TcpConnection._TcpConnection__processParseMessage)
    assert "dataTimestamp = self.encryptor.extract_timestamp(data)" in parse
    assert "data = self.encryptor.decrypt(data)" in parse
    assert "message = pickle.loads(zlib.decompress(data))" in parse
    assert "self.__encryptor = getEncryptor(self.__conf.password)" in inspect.getsource(SyncObj.__init__)
    assert "pickle.dumps(obj, __protocol)" in inspect.getsource(pysyncobj.pickle.dumps)


def test_wire_format_is_installed() -> None:
    wire.install_wire_format()
    wire.install_wire_format()  # idempotent
    assert tcp_connection.zlib is wire.IdentityCodec
    assert syncobj_module.getEncryptor is wire.AesGcmEncryptor
    assert pysyncobj.pickle.dumps(b"\xff" * 10)[:2] == b"\x80\x05"  # protocol 5: bytes as is


def test_importing_the_raft_room_patches_nothing() -> None:
    """Only RaftNode.start() installs the wire format: importing any module of node/raft (as
    the HTTP and ingest sides do) leaves PySyncObj as shipped. In a fresh interpreter, since
    this one may have installed it already."""
    probe = textwrap.dedent("""
        import importlib, pkgutil, zlib
        import pysyncobj.encryptor, pysyncobj.pickle, pysyncobj.syncobj, pysyncobj.tcp_connection
        import lithair_node.node.raft as room
        for module in pkgutil.iter_modules(room.__path__):
            importlib.import_module(f"{room.__name__}.{module.name}")
            print(module.name)
        assert pysyncobj.tcp_connection.zlib is zlib, "zlib replaced"
        assert pysyncobj.syncobj.getEncryptor is pysyncobj.encryptor.getEncryptor, "encryptor"
        assert getattr(pysyncobj.pickle, "__protocol") == 2, "pickle protocol"
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert {"raft_node", "wire", "syncobj"} <= set(done.stdout.split())


def test_aes_gcm_tokens_round_trip_and_refuse_tampering() -> None:
    sender = wire.AesGcmEncryptor("secret")
    receiver = wire.AesGcmEncryptor("secret")
    token = sender.encrypt_at_time(b"entry bytes" * 100, 1234)
    assert receiver.extract_timestamp(token) == 1234
    assert receiver.decrypt(token) == b"entry bytes" * 100
    assert receiver.decrypt(token) == b"entry bytes" * 100  # uncached path too
    assert sender.encrypt_at_time(b"x", 1) != sender.encrypt_at_time(b"x", 1)  # fresh nonces
    for position in (0, 3, 12, len(token) - 1):  # version, timestamp (AAD), nonce, tag
        bad = bytearray(token)
        bad[position] ^= 1
        with pytest.raises(InvalidTag):
            receiver.extract_timestamp(bytes(bad))
    with pytest.raises(InvalidTag):
        wire.AesGcmEncryptor("other password").extract_timestamp(token)
    with pytest.raises(InvalidTag):
        receiver.extract_timestamp(token[:20])


def test_snapshot_triggers_are_staggered_across_members() -> None:
    members = ["10.0.0.3:9001", "10.0.0.1:9001", "10.0.0.2:9001"]
    triggers = [
        raft_node.staggered_snapshot_bytes(64 << 20, me, tuple(m for m in members if m != me))
        for me in members
    ]
    assert len(set(triggers)) == 3  # no two nodes snapshot at the same log position
    assert min(triggers) == 64 << 20 and max(triggers) == int((64 << 20) * 1.25)
    # The same whatever order the peers were given in.
    assert raft_node.staggered_snapshot_bytes(1000, "b:1", ("c:1", "a:1")) == \
        raft_node.staggered_snapshot_bytes(1000, "b:1", ("a:1", "c:1")) == 1125
    assert raft_node.staggered_snapshot_bytes(1000, "a:1", ()) == 1000  # a single node


# -- the durable journal's hooks (journal/pysyncobj_hooks.py, syncobj.ReplicatedLog) -------


def test_internals_the_durable_journal_hooks_rely_on() -> None:
    init = inspect.getsource(SyncObj.__init__)
    # journalFile=None gives a MemoryJournal with a NO_OP at index 1, which the hooks replace
    # right after __init__, redoing the reads that follow createJournal.
    assert "return MemoryJournal()" in inspect.getsource(pysyncobj.journal.createJournal)
    assert "self.__raftLog.add(_bchr(_COMMAND_TYPE.NO_OP), 1, self.__raftCurrentTerm)" in init
    assert "self.__votedForNodeId = self.__raftLog.getVotedForNodeId()" in init
    assert "self.__raftCommitIndex = self.__raftLog.getRaftCommitIndex()" in init
    assert "self._poller = createPoller(" in init
    # The leader's commit index is only ever assigned (the property caps it), computed from
    # the followers' match indexes, and re-computed every tick.
    tick = inspect.getsource(SyncObj._onTick)
    assert "self.__raftCommitIndex = nextCommitIdx" in tick
    assert "if self.__raftMatchIndex[node] >= commitIdx:" in tick
    assert "for node in self.__otherNodes:" in tick
    assert "self.__leaderCommitIndex = self.__raftCommitIndex" in tick
    # A follower acknowledges through this one method, whose signature the hook repeats.
    assert str(inspect.signature(SyncObj._SyncObj__sendNextNodeIdx)) == \
        "(self, node, reset=False, nextNodeIdx=None, success=False)"
    # Term and vote go to the journal before the vote is sent (the journal makes them durable).
    assert "self.__raftLog.setCurrentTerm(term, votedForNodeId)" in \
        inspect.getsource(SyncObj._SyncObj__setCurrentTerm)
    assert "self.__raftLog._destroy()" in inspect.getsource(SyncObj._doDestroy)
    assert "self.__raftLog.onOneSecondTimer()" in tick
    assert list(inspect.signature(pysyncobj.pipe_notifier.PipeNotifier).parameters) == \
        ["poller", "callback"]



def test_internals_commit_first_relies_on() -> None:
    # commit_first.py: the leader's tick applies, then sends; every AppendEntries carries
    # the commit index, and an apply asks for a send after it only without batching.
    tick = inspect.getsource(SyncObj._onTick)
    assert tick.index("self.__raftCommitIndex = nextCommitIdx") < \
        tick.index("needSendAppendEntries = self.__applyLogEntries()") < \
        tick.index("self.__sendAppendEntries()")
    send = inspect.getsource(SyncObj._SyncObj__sendAppendEntries)
    assert "'commit_index': self.__raftCommitIndex," in send
    applying = inspect.getsource(SyncObj._SyncObj__applyLogEntries)
    assert "if not self.__conf.appendEntriesUseBatch:\n" \
        "                needSendAppendEntries = True" in applying


def test_internals_the_installed_snapshot_fsync_relies_on() -> None:
    received = inspect.getsource(Serializer.setTransmissionData)
    assert "self.__incomingTransmissionFile = open(tmpFile, 'wb')" in received
    assert "self.__incomingTransmissionFile.write(data)" in received
    assert "if isLast:\n            self.__incomingTransmissionFile.close()" in received
    assert "atomicReplace(tmpFile, self.__fileName)" in received
    assert "self.__loadDumpFile(clearJournal=True)" in \
        inspect.getsource(SyncObj._SyncObj__onMessageReceived)


# -- PreVote and leader stickiness (prevote_hooks.py) ---------------------------------------


def test_internals_prevote_relies_on() -> None:
    init = inspect.getsource(SyncObj.__init__)
    tick = inspect.getsource(SyncObj._onTick)
    received = inspect.getsource(SyncObj._SyncObj__onMessageReceived)
    # Our role constants, and the fields we read or set.
    assert (syncobj_module._RAFT_STATE.FOLLOWER, syncobj_module._RAFT_STATE.LEADER) == (0, 2)
    for field in ("self.__raftState = _RAFT_STATE.FOLLOWER", "self.__raftCurrentTerm = 0",
                  "self.__raftLeader = None", "self.__selfNode = ", "self.__transport = ",
                  "self.__lastResponseTime = {}"):
        assert field in init, field
    for name in ("connectedToAnyone", "generateRaftTimeout", "getCurrentLogIndex",
                 "getCurrentLogTerm", "setCurrentTerm", "setState", "onLeaderChanged"):
        assert hasattr(SyncObj, f"_SyncObj__{name}"), name
    # Its deadline and response times are on its own clock (CLOCK_MONOTONIC_RAW, which
    # drifts from time.monotonic): whatever we compare with them reads that one.
    assert syncobj_module.monotonicTime is pysyncobj.monotonic.monotonic
    assert "time.clock_gettime(time.CLOCK_MONOTONIC_RAW)" in inspect.getsource(pysyncobj.monotonic)
    # PySyncObj campaigns in _onTick as soon as the deadline passed (PreVote moves the
    # deadline first), and skips that for a leader; a TimeoutNow sets the deadline to 0.
    assert "if self.__raftState in (_RAFT_STATE.FOLLOWER, _RAFT_STATE.CANDIDATE) and " \
        "self.__selfNode is not None:\n            if self.__raftElectionDeadline < " \
        "monotonicTime() and self.__connectedToAnyone():" in tick
    assert "self.__setCurrentTerm(self.__raftCurrentTerm + 1, self.__selfNode.id)" in tick
    # Dropping a silent leader before a pre-vote does what the campaign does to it.
    assert "self.__raftLeader = None\n                self.__setState(_RAFT_STATE.CANDIDATE)" in tick
    assert "self.__onLeaderChanged()" in tick
    assert "LEADER_CHANGED" in inspect.getsource(SyncObj._SyncObj__onLeaderChanged)
    assert tick.index("self.__raftElectionDeadline < monotonicTime()") < \
        tick.index("self._poller.poll(timeToWait)")  # messages are read after the check
    assert "self.__raftElectionDeadline = 0\n                self.__transferInProgress = True" \
        in received
    # Stickiness exists because of this: a higher-term request_vote makes anyone, the
    # leader included, step down.
    assert "if message['type'] == 'request_vote' and self.__selfNode is not None:\n\n" \
        "            if message['term'] > self.__raftCurrentTerm:\n" \
        "                self.__setCurrentTerm(message['term'], None)\n" \
        "                self.__setState(_RAFT_STATE.FOLLOWER)" in received
    # A leader's appends carry its term; its followers' answers refresh __lastResponseTime.
    assert "if message['type'] == 'append_entries' and message['term'] >= " \
        "self.__raftCurrentTerm:" in received
    assert "self.__lastResponseTime[node] = monotonicTime()" in received
    assert str(inspect.signature(SyncObj.transferLeadership)) == "(self, node=None, callback=None)"


def test_pysyncobj_ignores_message_types_it_does_not_know() -> None:
    """What a node without PreVote does with our messages (a rolling upgrade): every branch
    of its handler tests message['type'] against a known name, nothing else."""
    received = inspect.getsource(SyncObj._SyncObj__onMessageReceived)
    kinds = set(re.findall(r"message\['type'\] == '(\w+)'", received))
    assert kinds == {"timeout_now", "request_vote", "append_entries", "apply_command",
                     "apply_command_response", "response_vote", "next_node_idx"}
    assert "else:\n            raise" not in received
    assert not {"pre_vote", "pre_vote_response", "lease_release"} & kinds
    assert (prevote.PRE_VOTE, prevote.PRE_VOTE_RESPONSE, prevote.LEASE_RELEASE) == \
        ("pre_vote", "pre_vote_response", "lease_release")
    # The transport hands every non-utility message of a connected node to that handler.
    incoming = inspect.getsource(pysyncobj.transport.TCPTransport._onIncomingMessageReceived)
    assert "conn.setOnMessageReceivedCallback(functools.partial(self._onMessageReceived, " \
        "node))" in incoming
