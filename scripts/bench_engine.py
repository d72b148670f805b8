#!/usr/bin/env python3
"""Storage engine benchmark: the engine's apply beside StateMachine.apply, and bytes per reading.

The entry point of lithair_node/lab/bench/engine.py (`--help` for its flags).
"""

from lithair_node.lab.bench.engine import main

raise SystemExit(main())
