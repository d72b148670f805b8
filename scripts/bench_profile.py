#!/usr/bin/env python3
"""Profile the nodes of a loaded 3-node cluster with py-spy and summarise where time goes.

The entry point of lithair_node/lab/bench/profile.py (`--help` for its flags).
"""

from lithair_node.lab.bench.profile import main

raise SystemExit(main())
