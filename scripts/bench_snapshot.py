#!/usr/bin/env python3
"""Snapshot benchmark: full vs incremental snapshot after +1% new data, and a real node's
restart-to-ready, beside a baseline tree in the same run.

The entry point of lithair_node/lab/bench/snapshot.py (`--help` for its flags).
"""

from lithair_node.lab.bench.snapshot import main

raise SystemExit(main())
