#!/usr/bin/env python3
"""Lithair's published injection phases (100K to 20M readings) into a fresh 3-node cluster.

The entry point of lithair_node/lab/bench/phases.py (`--help` for its flags).
"""

from lithair_node.lab.bench.phases import main

raise SystemExit(main())
