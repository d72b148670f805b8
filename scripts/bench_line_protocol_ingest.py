#!/usr/bin/env python3
"""Line protocol beside JSON batches through HTTP into a 3-node cluster.

The entry point of lithair_node/lab/bench/line_protocol_ingest.py (`--help` for its flags).
"""

from lithair_node.lab.bench.line_protocol_ingest import main

raise SystemExit(main())
