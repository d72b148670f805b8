"""Same answers as PySyncObj's own journals, on random operation sequences: MemoryJournal for
every read, FileJournal also across a close and reopen."""

from __future__ import annotations

import shutil
import tempfile

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from pysyncobj.journal import FileJournal, MemoryJournal

from tests.node.raft.journal.conftest import Machine, payload


class AgainstPySyncObj(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.machine = Machine()
        self.journal = self.machine.open(segment_bytes=256)  # rolls every few entries
        self.memory = MemoryJournal()
        self.directory = tempfile.mkdtemp(prefix="reference-journal-")
        self.file_path = f"{self.directory}/raft.journal"
        self.file = FileJournal(self.file_path)

    def _all(self) -> tuple[MemoryJournal | FileJournal, ...]:
        return self.memory, self.file

    @rule(count=st.integers(1, 6), term=st.integers(1, 4), start=st.integers(1, 50))
    def add(self, count: int, term: int, start: int) -> None:
        first = self.journal[-1][1] + 1 if len(self.journal) else start
        for index in range(first, first + count):
            entry = (payload(index, term, size=index % 40), index, term)
            self.journal.add(*entry)
            for reference in self._all():
                reference.add(*entry)

    @rule()
    def clear(self) -> None:
        self.journal.clear()
        for reference in self._all():
            reference.clear()

    @rule(data=st.data())
    def delete_entries_from(self, data: st.DataObject) -> None:
        position = data.draw(st.integers(0, len(self.memory) + 1))
        self.journal.deleteEntriesFrom(position)
        for reference in self._all():
            reference.deleteEntriesFrom(position)

    @rule(data=st.data())
    def delete_entries_to(self, data: st.DataObject) -> None:
        position = data.draw(st.integers(0, len(self.memory) + 1))
        self.journal.deleteEntriesTo(position)
        for reference in self._all():
            reference.deleteEntriesTo(position)

    @rule(term=st.integers(0, 9), vote=st.sampled_from([None, "a:1", "b:2"]))
    def set_term(self, term: int, vote: str | None) -> None:
        self.journal.setCurrentTerm(term, vote)
        self.file.setCurrentTerm(term, vote)

    @rule(data=st.data())
    def read_slices(self, data: st.DataObject) -> None:
        size = len(self.memory)
        start = data.draw(st.integers(-size - 1, size + 1))
        stop = data.draw(st.integers(-size - 1, size + 1))
        assert self.journal[start:stop] == self.memory[start:stop]
        assert self.journal[start:] == self.memory[start:]

    @precondition(lambda self: len(self.memory) > 0)
    @rule(data=st.data())
    def read_one(self, data: st.DataObject) -> None:
        position = data.draw(st.integers(-len(self.memory), len(self.memory) - 1))
        assert self.journal[position] == self.memory[position]

    @rule()
    def reopen(self) -> None:
        self.journal.close()
        self.machine.shutdown()
        self.journal = self.machine.open(segment_bytes=256)
        self.file._destroy()
        self.file = FileJournal(self.file_path)
        assert list(self.journal[:]) == list(self.file[:])
        assert self.journal.getCurrentTerm() == self.file.getCurrentTerm()
        assert self.journal.getVotedForNodeId() == self.file.getVotedForNodeId()

    @invariant()
    def same_entries(self) -> None:
        assert len(self.journal) == len(self.memory) == len(self.file)
        assert self.journal[:] == self.memory[:] == self.file[:]

    @invariant()
    def held_bytes_counts_what_is_held(self) -> None:
        held = sum(len(entry[0]) for entry in self.memory[:])
        assert self.journal.held_bytes == held
        assert self.journal.describe()["entry_bytes_held"] == held

    def teardown(self) -> None:
        self.machine.shutdown()
        self.file._destroy()
        shutil.rmtree(self.directory, ignore_errors=True)


AgainstPySyncObj.TestCase.settings = settings(max_examples=60, stateful_step_count=40,
                                              deadline=None)
TestAgainstPySyncObj = AgainstPySyncObj.TestCase


def test_commit_index_survives_a_reopen_once_the_timer_saved_it(machine: Machine) -> None:
    journal = machine.open()
    assert journal.getRaftCommitIndex() == 1  # PySyncObj's default
    for index in range(1, 6):
        journal.add(payload(index, 1), index, 1)
    journal.setRaftCommitIndex(4)
    journal.onOneSecondTimer()
    journal.flush()
    machine.power_cut()
    assert machine.open().getRaftCommitIndex() == 4


def test_a_saved_commit_index_never_exceeds_the_entries_that_survived(machine: Machine) -> None:
    journal = machine.open()
    journal.add(payload(1, 1), 1, 1)
    journal.flush()
    journal.setRaftCommitIndex(9)  # a follower learns commits beyond what it holds durably
    journal.onOneSecondTimer()
    journal.flush()
    machine.shutdown()
    assert machine.open().getRaftCommitIndex() == 1
