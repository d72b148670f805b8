#!/usr/bin/env python3
"""Journal size and snapshots under continuous load, with and without log compaction.

The entry point of lithair_node/lab/bench/journal.py (`--help` for its flags).
"""

from lithair_node.lab.bench.journal import main

raise SystemExit(main())
