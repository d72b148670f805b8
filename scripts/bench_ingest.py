#!/usr/bin/env python3
"""Ingest benchmark: one invocation, side by side, the same generated readings.

The entry point of lithair_node/lab/bench/ingest.py (`--help` for its flags).
"""

from lithair_node.lab.bench.ingest import main

raise SystemExit(main())
