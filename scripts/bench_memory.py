#!/usr/bin/env python3
"""Memory, snapshot and restart at scale: a 3-node cluster holding N readings (default 10M).

The entry point of lithair_node/lab/bench/memory.py (`--help` for its flags).
"""

from lithair_node.lab.bench.memory import main

raise SystemExit(main())
