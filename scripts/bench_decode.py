#!/usr/bin/env python3
"""CPU per reading of decode, validation and envelope encoding of a JSON batch.

The entry point of lithair_node/lab/bench/decode.py (`--help` for its flags).
"""

from lithair_node.lab.bench.decode import main

raise SystemExit(main())
