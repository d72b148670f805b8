"""Apply gives what the reference tree gave: digest, snapshot content, ApplyResults, anomalies,
locations and stats on the gateway and random-draw feeds at S = 10 .. 100K and on a mixed
feed (apply_feeds.py). apply_reference.json was written by apply_feeds.py run against main
at f1a18bf (before the applycpu2 work); an optimisation of apply must leave every hash as it
is. A failing "entries" hash means the feed changed (validation or encoding), not apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.machine.apply_feeds import FEEDS, outcome

REFERENCE = json.loads((Path(__file__).parent / "apply_reference.json").read_text())


@pytest.mark.parametrize("feed", sorted(FEEDS))
def test_apply_matches_the_reference_tree(feed: str) -> None:
    assert outcome(FEEDS[feed]()) == REFERENCE[feed]
