"""replication.py relies on a few PySyncObj 0.3.17 internals: fail loudly if they move."""

import inspect

import pysyncobj
from pysyncobj import FAIL_REASON, SERIALIZER_STATE, SyncObj
from pysyncobj.serializer import Serializer
from pysyncobj.version import VERSION

from lithair_node.replication import _FAILURES


def test_pinned_version() -> None:
    assert VERSION == "0.3.17", "replication.py was written against PySyncObj 0.3.17"
    assert pysyncobj.SyncObjConf().autoTick is True


def test_private_members_we_use_exist() -> None:
    assert hasattr(SyncObj, "_SyncObj__getEntries")
    assert "self.__serializer = Serializer(" in inspect.getsource(SyncObj.__init__)
    assert "self.__raftLastApplied += 1" in inspect.getsource(SyncObj._SyncObj__applyLogEntries)
    init = inspect.getsource(SyncObj.__init__)
    assert "self.__raftElectionDeadline = monotonicTime() + self.__generateRaftTimeout()" in init
    assert "self.__transferInProgress = False" in init
    assert "self.__raftLog = createJournal(" in init
    assert "self.__raftElectionDeadline < monotonicTime()" in inspect.getsource(SyncObj._onTick)
    assert "self._onTick(timeToWait)" in inspect.getsource(SyncObj.doTick)
    assert "self.__transmissions = {}" in inspect.getsource(Serializer.__init__)
    for name in ("checkSerializing", "serialize", "deserialize", "getTransmissionData",
                 "setTransmissionData", "cancelTransmisstion"):
        assert hasattr(Serializer, name), name


def test_every_failure_reason_is_mapped() -> None:
    reasons = {v for k, v in vars(FAIL_REASON).items() if k.isupper()} - {FAIL_REASON.SUCCESS}
    assert reasons == set(_FAILURES)
    assert (SERIALIZER_STATE.SERIALIZING, SERIALIZER_STATE.SUCCESS) == (1, 2)
