from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lithair_node.node.raft.journal.raft_gates import HeldAcks, leader_commit_index

TERMS = {index: 1 if index <= 10 else 2 for index in range(1, 100)}


def _commit(proposed: int, committed: int, own: int, followers: list[int]) -> int:
    return leader_commit_index(proposed=proposed, committed=committed, own_durable=own,
                               follower_match=followers, term_of=TERMS.get, current_term=2)


def test_the_leader_counts_itself_only_up_to_its_durable_index() -> None:
    assert _commit(20, 10, own=12, followers=[15, 0]) == 12
    assert _commit(20, 10, own=20, followers=[18, 19]) == 19  # two followers: no need of the leader
    assert _commit(20, 10, own=30, followers=[0, 0]) == 10  # alone it is no majority of three
    assert _commit(20, 12, own=20, followers=[]) == 20  # a one-node cluster


def test_an_entry_of_an_older_term_is_never_committed_by_counting() -> None:
    assert _commit(20, 5, own=8, followers=[20, 0]) == 5  # index 8 is of term 1


@given(own=st.integers(0, 60), followers=st.lists(st.integers(0, 60), max_size=4),
       committed=st.integers(0, 60), proposed=st.integers(0, 60))
def test_a_commit_needs_a_durable_majority(own: int, followers: list[int], committed: int,
                                           proposed: int) -> None:
    result = _commit(proposed, committed, own, followers)
    if result > committed:
        holders = sum(match >= result for match in [own, *followers])
        assert holders > (len(followers) + 1) / 2 and result <= proposed and TERMS[result] == 2


def test_acks_wait_for_the_durable_index_and_the_highest_ready_one_goes() -> None:
    acks: HeldAcks[str] = HeldAcks()
    assert acks.must_hold(11, durable_index=5) and not acks.must_hold(6, durable_index=5)
    for next_index in (8, 11, 15):
        acks.hold("leader:1", next_index, epoch=(2, 0))
    assert acks.release(6, epoch=(2, 0)) == []
    assert acks.release(9, epoch=(2, 0)) == [("leader:1", 8)]
    assert acks.release(10, epoch=(2, 0)) == [("leader:1", 11)]
    assert acks.release(20, epoch=(2, 0)) == [("leader:1", 15)]
    assert acks.release(30, epoch=(2, 0)) == []


def test_a_truncation_or_a_new_term_drops_the_held_acks() -> None:
    acks: HeldAcks[str] = HeldAcks()
    acks.hold("leader:1", 11, epoch=(2, 0))
    assert acks.release(20, epoch=(2, 1)) == []
    acks.hold("leader:1", 11, epoch=(2, 1))
    assert acks.release(20, epoch=(3, 1)) == []
