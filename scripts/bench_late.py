#!/usr/bin/env python3
"""Apply of late readings beside in-order ones (and a baseline tree): the entry point of
lithair_node/lab/bench/late.py (`--help` for its flags)."""

from lithair_node.lab.bench.late import main

raise SystemExit(main())
