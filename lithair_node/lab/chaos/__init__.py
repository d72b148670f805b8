"""Fault injection with a history checker (Jepsen-style): a seeded schedule of faults
(kill -9, SIGSTOP, network partitions, whole-cluster restarts) against a real 3-node cluster
under load, then a check of everything the clients were told against every node.

    plan.py     the seeded schedule
    faults.py   what each kind of fault does: one function per kind, in one table
    runner.py   applies the plan to a LocalCluster (in network namespaces when possible),
                runs the writers and watchers, waits for recovery after each fault
    report.py   the run's result from the history and the watchers, and its summary
    observe.py  reads never going backwards, time without a leader, one leader per term
    checks.py   lost / duplicated / divergent counts, acked (index, term) consistency
"""

from lithair_node.lab.chaos.plan import ALL_KINDS, PARTITIONS, PlannedFault, plan_faults
from lithair_node.lab.chaos.report import summary_lines
from lithair_node.lab.chaos.runner import ChaosOptions, run_chaos

__all__ = ["ALL_KINDS", "PARTITIONS", "ChaosOptions", "PlannedFault", "plan_faults", "run_chaos",
           "summary_lines"]
