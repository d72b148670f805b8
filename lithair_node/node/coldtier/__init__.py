"""The cold tier (issue 16 part 2): sealed readings past their hot window, as Hive-partitioned
Parquet in a local directory or an S3-compatible bucket. It does I/O, so it lives in node/;
machine/ only ever sees the manifest entries (plain values) that come through the log.

Layout of a tier root:
    day=YYYY-MM-DD/part-<12-digit name>.parquet
one file per UTC day a write touches; the name is the move's seq x 10^6 + the leader's term
(mover.py), so a retried write overwrites its own file instead of adding a duplicate. Rows are sorted
by (sensor_id, ts), zstd-compressed, 128 Ki rows per row group; columns sensor_id,
location, ts (timestamp[us, UTC]) and one nullable float64 column per metric (writer.py).
DuckDB reads it as it is:
    SELECT day, count(*) FROM read_parquet('<root>/**/*.parquet', hive_partitioning=true,
                                           union_by_name=true) GROUP BY day

Modules:
  store.py     open_store(url, S3Options) -> ColdStore: put (atomic), get, size, list, delete
  writer.py    ColdBatch (columns, dense or from the engine's triples); encode / write ->
               ColdFile entries
  segments.py  batch_of_engine_segment(engine, segment) -> ColdBatch: a sealed segment
               with the engine's names, ready for write
  manifest.py  ColdFile, its versioned msgpack form (pack / unpack), verify (size + sha256)
  reader.py    ColdReader(store, files): readings(sensor, start, end, metrics) and
               readings_of(start, end, sensors=, location=) -> ColdRange (ts, values, names)
  mover.py     the leader's move (barrier, sweep of unlisted files, write, verify, the
               `cold` entry) and the cleanup_ctx that opens the tier on every node

The replicated half is machine/lifecycle/cold.py (the manifest, the entry's apply); reads
merge the tier in through node/queries/cold_reads.py. The order and its reasons: DESIGN.md,
"How data ages"; the user's side and DuckDB queries: README.md, "The cold tier".
"""
