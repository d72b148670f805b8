#!/usr/bin/env python3
"""Issue 11's attack shape: entry bytes and engine bytes when writes bring many metric names.

The entry point of lithair_node/lab/bench/metric_names.py (`--help` for its flags).
"""

from lithair_node.lab.bench.metric_names import main

raise SystemExit(main())
