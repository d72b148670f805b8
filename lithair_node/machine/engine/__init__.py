"""The storage engine for wide batches (issue 11): apply costs a fixed number of vectorised
passes per batch, whatever the number of sensors it touches. Built beside the current
storage (series.py, aggregates.py), not wired in yet; the switch is described below.

Layout (Prometheus' head + blocks, InfluxDB's TSM):
  numbering.py   sensor ids, metric names, locations -> stable numbers in apply order
                 (one C-level dict pass per batch; Python work only for names never seen)
  engine.py      Engine.apply_batch: per-sensor arrays indexed by sensor number (last ts,
                 location, hash), dedup, statistics, latest, hot append, sealing
  cells.py       (sensor, metric) -> cell: a sorted int64 key array, one searchsorted a batch
  running.py     per-cell count/mean/M2/min/max, folded with stats.merge (the same rounding
                 as the current aggregates: results equal to the last bit on every node)
  latest.py      each sensor's newest reading: an arena of (metric, value) runs, O(1) reads
  hot.py         the hot buffer: rows (sensor, ts) + sparse (row, metric, value) triples
  dedup.py       late readings (ts <= the sensor's last ts) checked against the hot rows and
                 the segments whose per-sensor time span covers them; in-order ones never are
  segment.py     sealed segments: cut when the hot buffer reaches seal_rows rows, at a batch
                 boundary (deterministic); sorted by (sensor, ts); per-sensor row ranges and
                 time spans; columns in blocks of BLOCK_ROWS compressed by codec.py
  codec.py       delta-of-delta timestamps; floats decimal-scaled where exact, else raw;
                 zigzag, byte shuffle, zstd
  reads.py       ranges in ts order across segments + hot buffer, pages with cursors, range
                 stats, buckets, export chunks; point_reads.py: latest, running stats
  snapshot.py    state blob (bounded by sensors + cells + hot buffer) + immutable segment
                 blobs: an incremental snapshot writes only the segments sealed since
  columns_decode.py  commands.decode_columns with C-level checks (see the switch, step 1)

The switch (each step mechanical, the tests of tests/machine/ keep their meaning):
 1. commands.decode_columns takes the body of columns_decode.decode_columns (same answers:
    tests/machine/engine/test_columns_decode.py); columns_decode.py goes.
 2. Tables: `series`, `aggregates`, `metric_names/ids/hashes`, `readings_hash` become one
    `engine: Engine`; series.py and aggregates.py go.
 3. ingest._store(tables, columns, raft_index) becomes
        stored = tables.engine.apply_batch(columns, lambda s, running: tables.anomalies.observe(
            s.sensors, s.counts, s.cell_of, s.ts, s.values, running, columns.metrics, raft_index))
        for each (sensor, before) in zip(stored.moved, stored.moved_from): location_index.move
        and locations_hash (a loop over sensors that changed location only); return stored.keep
    _fold_statistics goes (the engine folds).
 4. StateMachine.digest: readings_hash -> engine.readings_hash, len(series) -> len(engine.sensors);
    stats(): metrics -> len(engine.metrics); sensor_ids_since -> engine.sensors.names[start:].
 5. Reads: StateMachine.read() returns (applied index, engine.view(), sensor numbers of the
    ids asked, point reads taken under the lock: point_reads.latest / running_stats);
    queries/series_reads.iter_chunks/page/range_stats/count_between -> reads.chunks/page/
    range_stats/readings; buckets.BucketPartials.add is fed reads.parts(...) per sensor;
    export.py iterates reads.chunks. SeriesView goes.
 6. Snapshots: capture() = (snapshot.dump_state, engine.segments); snapshot_file writes the
    state blob in its stream and each segment blob as its own file `segment-<n>` beside the
    snapshot, skipping those already on disk (immutable, named by seal number); restore =
    snapshot.load(state, blobs). The snapshot format version is bumped.
 7. Sparse log entries: BatchColumns.values (dense metrics x readings, NaN absent) becomes
    triples (reading, metric, value); apply_batch then feeds hot.append, cells_hash and the
    latest arena directly from them and the statistics use np.bincount over cells instead
    of stats.grouped. Limits (metric names per sensor: cells.metrics_of; per cluster:
    len(engine.metrics)) are checked by validation against a read of the state and again in
    apply, which refuses the batch deterministically.
"""
