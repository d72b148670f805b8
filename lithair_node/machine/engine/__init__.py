"""The storage engine for wide batches (issue 11): apply costs a fixed number of vectorised
passes per batch, whatever the number of sensors it touches. StateMachine stores every
reading here (Tables.engine; ingest.py calls Engine.apply_batch, reads go through
sensor_view.SensorView, snapshots through snapshot.py inside machine/snapshot_file.py).

Layout (Prometheus' head + blocks, InfluxDB's TSM):
  numbering.py   sensor ids, metric names, locations -> stable numbers in apply order
                 (one C-level dict pass per batch; Python work only for names never seen)
  engine.py      Engine.apply_batch: per-sensor arrays indexed by sensor number (last ts,
                 location, hash), dedup, statistics, latest, hot append, sealing
  cells.py       (sensor, metric) -> cell: a sorted int64 key array plus each sensor's first
                 key (a gather a batch, no binary search)
  shapes.py      a batch repeating a sensor list seen before reuses its numbers and cells
  running.py     per-cell count/mean/M2/min/max, folded with stats.merge (the same rounding
                 on every node: results equal to the last bit)
  pictures.py    what apply hands the anomaly detector (StoredBatch) and reads (EngineView)
  latest.py      per cell, the ts and value of its newest reading: O(1) latest reads
  hot.py         the hot buffer: rows (sensor, ts) + sparse (row, metric, value) triples
  hot_index.py   the hot rows grouped by sensor (and each row's triples), built lazily by
                 readers in pieces shared by every view of one buffer: reads never scan it
  dedup.py       late readings (ts <= the sensor's last ts) checked against the hot rows and
                 the segments whose per-sensor time span covers them; in-order ones never are
  segment.py     sealed segments: cut when the hot buffer reaches seal_rows rows, at a batch
                 boundary (deterministic); sorted by (sensor, ts); per-sensor row ranges and
                 time spans; columns in blocks of BLOCK_ROWS compressed by codec.py
  sealing.py     the cut off the apply path: the hot buffer frozen into a Sealing part read
                 as the segment it becomes, built by a builder thread, swapped in at the
                 next cut (deterministic; snapshot bytes are the built segment's)
  compaction.py  (off by default) FAN_IN neighbouring level-0 segments merged into one (from the
                 segment list: deterministic), so a sensor's rows lie together
  merging.py     merges off the apply path: planned at a cut, built by the merge thread,
                 swapped in SWAP_AFTER cuts later (a count of segments: deterministic)
  column_decode.py  a segment's whole columns decoded in a few calls (merge inputs)
  summaries.py   per-(sensor, metric) run partials kept by seal and merge (in memory only,
                 while <= 0.5 B a row): a range statistic covering a run decodes nothing
  regular_runs.py one bit per sensor run with evenly spaced timestamps: computed, not decoded
  run_index.py   restored segments (blobs hold no run index) get it back on a thread
  block_cache.py decoded blocks, an LRU bounded in bytes; entries leave with their segment
  row_decode.py  sealed reads: a read's frames in one zstd call, only its rows un-shuffled
  codec.py       delta-of-delta timestamps; floats decimal-scaled where exact, else raw;
                 zigzag, byte shuffle, zstd
  reads.py       ranges in ts order across segments + hot buffer, pages with cursors, export
                 chunks, order-free parts (node/queries reduces them to range stats and
                 buckets), first ts, count; point_reads.py: latest, running stats
  metric_reads.py one metric of many sensors in one pass (a location's time buckets)
  snapshot.py    state blob (bounded by sensors + cells + hot buffer) + immutable segment
                 blobs (new_segments: what an incremental snapshot would add)
  sensor_view.py SensorView: the engine's immutable picture plus one sensor's number,
                 metrics, cells, location and latest reading, taken under the state lock
  limits.py      the metric-name limits (per sensor: its cells; per cluster: the metric
                 numbering), judged batch by batch in apply, O(1) unless near a limit

Log entries carry values densely or as (positions, values) (commands.encode_values), but
apply still gets the dense metrics x readings matrix of each batch, for the time of its
apply (bounded by the batch: readings x its metric names).

Snapshots (issue 11): each sealed segment is written once, as a file of its own beside the
snapshot (machine/snapshot_segments.py, node/raft/segment_files.py), and so is each run of
hot rows (machine/hot_chunks.py), so a snapshot costs the engine's state plus what was
sealed or appended since the last one.
"""
