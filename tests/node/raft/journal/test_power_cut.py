"""Random work, a power cut at a random moment, a reopen: everything reported durable is there,
and nothing is returned that was not once written whole."""

from __future__ import annotations

import random

import pytest

from lithair_node.node.raft.journal import DurableJournal
from tests.node.raft.journal.conftest import Machine, payload

SEEDS = range(24)


def _random_work(rng: random.Random, journal: DurableJournal,
                 written: dict[int, set[bytes]]) -> None:
    """What a Raft node does to its log: appends, conflicts, compactions, waits."""
    for _ in range(rng.randint(5, 60)):
        roll = rng.random()
        if roll < 0.6 or len(journal) < 3:
            first = journal[-1][1] + 1 if len(journal) else 1
            term = rng.randint(1, 3)
            for index in range(first, first + rng.randint(1, 8)):
                command = payload(index, term, size=rng.randint(1, 300))
                written.setdefault(index, set()).add(command)
                journal.add(command, index, term)
        elif roll < 0.75:
            journal.deleteEntriesFrom(rng.randint(1, len(journal) - 1))
        elif roll < 0.85:
            journal.deleteEntriesTo(rng.randint(1, len(journal) - 1))
        elif roll < 0.9:
            journal.clear()
        else:
            journal.wait_durable(journal[-1][1], timeout=10)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("torn", [False, True], ids=["clean-cut", "torn-writes"])
def test_what_was_reported_durable_survives_a_power_cut(seed: int, torn: bool) -> None:
    rng = random.Random(seed)
    machine = Machine()
    written: dict[int, set[bytes]] = {}
    journal = machine.open(segment_bytes=rng.choice([200, 1000, 1 << 20]))
    for _ in range(rng.randint(1, 3)):
        _random_work(rng, journal, written)
        # The durable index only grows from the writer here (the "Raft thread" is this one,
        # idle now): what it says before the cut is a floor of what is on disk.
        durable = journal.durable_index
        expected = [entry for entry in journal[:] if entry[1] <= durable]
        machine.power_cut(random.Random(seed) if torn else None)
        journal = machine.open(segment_bytes=rng.choice([200, 1000]))
        survived = journal[:]
        indexes = [index for _, index, _ in survived]
        assert indexes == list(range(indexes[0], indexes[0] + len(indexes)) if indexes else [])
        up_to_durable = [entry for entry in survived if entry[1] <= durable]
        assert up_to_durable[len(up_to_durable) - len(expected):] == expected
        # A compaction mark that did not reach the disk leaves an older prefix: harmless (the
        # snapshot covers it), but each entry must be one that was written at its index.
        assert all(command in written[index] for command, index, _ in survived)
    machine.shutdown()


@pytest.mark.parametrize("seed", SEEDS)
def test_term_and_vote_never_go_back_across_a_power_cut(seed: int) -> None:
    rng = random.Random(seed)
    machine = Machine()
    journal = machine.open()
    term, vote = 0, None
    for _ in range(rng.randint(1, 5)):
        for _ in range(rng.randint(0, 4)):
            term += rng.randint(0, 1)
            vote = rng.choice([None, "a:1", "b:2"])
            journal.setCurrentTerm(term, vote)
            # Unsynced noise around it: entries in flight when the power goes.
            index = journal[-1][1] + 1 if len(journal) else 1
            journal.add(payload(index, term), index, term)
        machine.power_cut(random.Random(seed))
        journal = machine.open()
        assert (journal.getCurrentTerm(), journal.getVotedForNodeId()) == (term, vote)
    machine.shutdown()


def test_an_acknowledged_entry_is_on_disk_at_the_moment_the_listener_hears_of_it() -> None:
    machine = Machine()
    journal = machine.open(segment_bytes=300)
    heard: list[int] = []

    def cut_right_away(durable: int) -> None:
        if not heard:
            heard.append(durable)
            machine.disk.power_cut()  # from the writer thread, before it writes anything more

    journal.add_durable_listener(cut_right_away)
    for index in range(1, 40):
        journal.add(payload(index, 1), index, 1)
    assert journal.wait_durable(1, timeout=10)
    machine.power_cut()
    survived = machine.open()[:]
    assert [index for _, index, _ in survived][:heard[0]] == list(range(1, heard[0] + 1))
    machine.shutdown()
