#!/usr/bin/env python3
"""Backpressure benchmark: what a 3-node cluster does when offered twice what it can take.

The entry point of lithair_node/lab/bench/backpressure.py (`--help` for its flags).
"""

from lithair_node.lab.bench.backpressure import main

raise SystemExit(main())
