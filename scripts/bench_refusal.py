#!/usr/bin/env python3
"""What a refused write costs a node, with and without Expect: 100-continue, beside an
accepted one.

The entry point of lithair_node/lab/bench/refusal_cost.py (`--help` for its flags).
"""

from lithair_node.lab.bench.refusal_cost import main

raise SystemExit(main())
