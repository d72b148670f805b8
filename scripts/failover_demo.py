#!/usr/bin/env python3
"""Failover demo: start a 3-node cluster, write continuously, kill -9 the leader, restart
it, and print a timeline and a final integrity check (expected vs stored readings, per node).

The entry point of lithair_node/lab/bench/failover_demo.py (`--help` for its flags).
"""

from lithair_node.lab.bench.failover_demo import main

raise SystemExit(main())
