#!/usr/bin/env python3
"""Fault injection under load with a history checker (lithair_node/lab/chaos).

The entry point of lithair_node/lab/bench/chaos.py (`--help` for its flags).
"""

from lithair_node.lab.bench.chaos import main

raise SystemExit(main())
