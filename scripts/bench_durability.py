#!/usr/bin/env python3
"""--durability fsync vs none: throughput and ack latency, in one invocation.

The entry point of lithair_node/lab/bench/durability.py (`--help` for its flags).
"""

from lithair_node.lab.bench.durability import main

raise SystemExit(main())
