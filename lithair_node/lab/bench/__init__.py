"""The benchmarks and demos behind scripts/ (each `scripts/X.py` only calls one `main`).

    ingest.py         Lithair vs etcd vs naive PySyncObj vs the in-process ceiling
                      (ingest_systems.py, ingest_naive.py: the systems; ingest_table.py)
    queries.py        query latency over 10M readings vs a full-scan baseline
                      (queries_data.py, queries_cases.py, queries_http.py)
    memory.py         RSS per reading, snapshots and restart at 10M readings
    phases.py         Lithair's published phases (100K-20M readings) side by side, with integrity
    failover.py       failover under load, per Raft timing setting
    backpressure.py   what a cluster does when offered twice what it can take
    journal.py        journal size and snapshots under load, with and without compaction
    profile.py        py-spy summaries of a loaded leader and follower
    chaos.py          the seeded fault run (lab/chaos) from the command line
    failover_demo.py  one leader kill, narrated

Shared: load_clients.py (request bodies, client processes, their summary), procfs.py (CPU
and RSS of processes, the machine), results.py (bench/results/, baseline checkouts).
"""
