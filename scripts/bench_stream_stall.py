#!/usr/bin/env python3
"""Ingest rate with and without stalled stream clients, in one run.

The entry point of lithair_node/lab/bench/stream_stall.py (`--help` for its flags).
"""

from lithair_node.lab.bench.stream_stall import main

raise SystemExit(main())
