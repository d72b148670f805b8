#!/usr/bin/env python3
"""Query latency over 10M stored readings, side by side with a naive full-scan baseline.

The entry point of lithair_node/lab/bench/queries.py (`--help` for its flags).
"""

from lithair_node.lab.bench.queries import main

raise SystemExit(main())
