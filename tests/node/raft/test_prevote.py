"""The PreVote and stickiness rules (node/raft/prevote.py), alone."""

from lithair_node.node.raft.prevote import (
    LogPosition,
    PreVoteRound,
    campaign_instead,
    grant_pre_vote,
    ignore_vote_request,
    leader_lease_fresh,
    lease_fresh,
)

MIN = 0.6


def grant(candidate_term: int = 6, candidate_log: tuple[int, int] = (100, 5),
          current_term: int = 5, own_log: tuple[int, int] = (100, 5), lease: bool = False) -> bool:
    return grant_pre_vote(candidate_term=candidate_term, candidate_log=LogPosition(*candidate_log),
                          current_term=current_term, own_log=LogPosition(*own_log), lease=lease)


def test_granted_when_no_leader_is_heard_and_the_log_is_as_up_to_date() -> None:
    assert grant()
    assert grant(candidate_log=(120, 5))  # longer log, same last term
    assert grant(candidate_log=(90, 6), own_log=(100, 5))  # later last term beats length


def test_refused_while_a_leader_was_heard_within_the_minimum_election_timeout() -> None:
    assert not grant(lease=True)
    assert not grant(candidate_log=(500, 9), lease=True)  # whatever its log


def test_refused_for_a_log_behind_ours() -> None:
    assert not grant(candidate_log=(99, 5))
    assert not grant(candidate_log=(200, 4), own_log=(100, 5))


def test_refused_for_a_term_we_are_already_in() -> None:
    # We voted (or campaigned) in term 6 already: it could not win our vote there.
    assert not grant(candidate_term=6, current_term=6)
    assert not grant(candidate_term=5, current_term=6)


def test_follower_lease() -> None:
    assert lease_fresh(0.1, MIN)
    assert not lease_fresh(MIN, MIN)
    assert not lease_fresh(None, MIN)  # no leader heard since we started / last election


def test_leader_lease_needs_a_majority_of_recent_answers() -> None:
    assert leader_lease_fresh([0.1, 5.0], MIN)  # itself + one of two followers
    assert not leader_lease_fresh([5.0, 5.0], MIN)  # cut off from both
    assert leader_lease_fresh([0.1, 0.1, 5.0, 5.0], MIN)
    assert not leader_lease_fresh([0.1, 5.0, 5.0, 5.0], MIN)  # 2 of 5
    assert leader_lease_fresh([], MIN)  # alone: its own majority


def test_stickiness_ignores_higher_terms_only_while_the_lease_is_fresh() -> None:
    rules = dict(request_term=9, current_term=5)
    assert ignore_vote_request(**rules, from_leader=False, lease=True)
    assert not ignore_vote_request(**rules, from_leader=False, lease=False)
    # Our leader campaigning again (above a disruptive term) is heard.
    assert not ignore_vote_request(**rules, from_leader=True, lease=True)
    # A request for our own term or lower changes nothing anyway: PySyncObj handles it.
    assert not ignore_vote_request(request_term=5, current_term=5, from_leader=False, lease=True)


def test_a_round_is_won_with_a_majority_own_vote_included() -> None:
    round_ = PreVoteRound(term=6, voters=3)
    assert not round_.won
    assert not round_.answer("b", 6, granted=False)
    assert round_.answer("c", 6, granted=True)
    assert round_.won and round_.answered == {"b", "c"}


def test_answers_for_another_round_are_ignored() -> None:
    round_ = PreVoteRound(term=7, voters=3)
    assert not round_.answer("b", 6, granted=True)
    assert not round_.won and not round_.answered


def test_five_members_need_two_grants() -> None:
    round_ = PreVoteRound(term=2, voters=5)
    assert not round_.answer("b", 2, granted=True)
    assert not round_.answer("b", 2, granted=True)  # the same peer twice counts once
    assert round_.answer("c", 2, granted=True)


def test_a_peer_ahead_of_a_refused_candidate_campaigns_itself() -> None:
    facts = dict(candidate_term=6, current_term=5, own_log=LogPosition(100, 5))
    assert campaign_instead(candidate_log=LogPosition(99, 5), lease=False, **facts)
    assert not campaign_instead(candidate_log=LogPosition(99, 5), lease=True, **facts)
    assert not campaign_instead(candidate_log=LogPosition(100, 5), lease=False, **facts)
    assert not campaign_instead(candidate_log=LogPosition(99, 5), lease=False,
                                candidate_term=5, current_term=5, own_log=LogPosition(100, 5))
