"""The cold tier (issue 16 part 2): sealed readings past their hot window, as Hive-partitioned
Parquet in a local directory or an S3-compatible bucket. It does I/O, so it lives in node/;
machine/ only ever sees the manifest entries (plain values) that come through the log.

Layout of a tier root:
    day=YYYY-MM-DD/part-<12-digit name>.parquet
one file per UTC day a write touches; the name is the leader's log index or segment number,
so a retried write overwrites its own file instead of adding a duplicate. Rows are sorted
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

The later integration (not done here):
  1. The leader, for sealed segments older than the lifecycle policy's `tier_after`, calls
     write(store, batch_of_engine_segment(engine, segment), name=segment.number).
  2. It proposes a new log op carrying manifest.pack(entries) (and which segments they
     cover). Its apply, on every node, records the entries in a replicated manifest table
     and drops those readings from memory (running stats and latest stay: they are cells).
     A leader that dies between 1 and 2 leaves files no entry names; the next leader
     rewrites the same names (deterministic bytes), and a sweep may delete unlisted files.
  3. A read whose range reaches older than the engine's oldest hot/sealed timestamp asks
     ColdReader.readings over the manifest's files, merges by ts (the engine's reads give
     the same shape: ts int64 us ascending, values metrics x k, NaN absent) and answers
     with "cold": true.
"""
