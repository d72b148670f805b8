#!/usr/bin/env python3
"""Ingest by sensor cardinality and offered load, beside etcd and InfluxDB.

The entry point of lithair_node/lab/bench/cardinality.py (`--help` for its flags).
"""

from lithair_node.lab.bench.cardinality import main

raise SystemExit(main())
