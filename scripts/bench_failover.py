#!/usr/bin/env python3
"""Failover under load, for one or more Raft timing settings side by side.

The entry point of lithair_node/lab/bench/failover.py (`--help` for its flags).
"""

from lithair_node.lab.bench.failover import main

raise SystemExit(main())
