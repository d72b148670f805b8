"""Data lifecycle (issue 16): replicated retention and rollups, inside the state machine.

  policy.py    the rules (match, raw window, rollups, tier_after): parsing and validation
  rollups.py   RollupTable: per (cell, bucket) count/mean/m2/min/max/sum, updated from each
               stored batch in a few vectorised passes
  manager.py   Lifecycle: the policy, the replicated clock, the rule of every cell, the
               rollup tables; what apply calls on a policy entry, a stored batch, a tick
  cold.py      the cold tier's manifest (files, per-sensor cutoffs) and the `cold` entry's
               apply: the exact drop of what the leader's files hold
  codec.py     its snapshot blob and its digest part

Ages are measured against the clock the leader writes into `tick` entries (the largest seen:
it never goes back), never a node's own clock, so every node drops and rolls up the same
readings. The raw drop itself is engine/retention.py.
"""
