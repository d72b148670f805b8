"""CPU per reading of the receiving node's own work on a JSON batch, in this process.

    .venv/bin/python scripts/bench_decode.py --baseline-src DIR

The bodies are the load clients' (load_clients.BodyFactory: `--batch` rows from `--sensors`
sensors, as bench_cardinality sends at S = 4 x sensors). Each stage is timed on the same
bodies, best of `--passes`, in CPU µs per reading:
  decode    bodies.decode_json (orjson + the duplicate-key check)
  validate  validation.validate_batch of the decoded body
  encode    commands.make_encoded_batch (the columns packed for the Raft entry)
  total     what write_routes does: the three one after the other or, in a tree that has
            node/ingest/typed_rows.py, its typed decode of a shape learnt from the first body
            (then encode), the usual two where it declines
  msgpack   the same readings as a msgpack body (msgpack.unpackb, validate, encode): what
            ClusterClient's bodies cost when it sent msgpack (its default until 2026-12-02)
With --baseline-src, the same stages of that source tree run in a subprocess right after,
on the same bodies (same seed), and both are reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack

from lithair_node.lab.bench.load_clients import BodyFactory
from lithair_node.lab.bench.procfs import machine_info
from lithair_node.lab.bench.results import RESULTS_DIR, shown, utc_now, write_results


def _stages() -> dict[str, Callable[[bytes], Any]]:
    from lithair_node.machine.commands import make_encoded_batch
    from lithair_node.node.http.bodies import decode_json
    from lithair_node.node.ingest.validation import Limits, validate_batch

    limits = Limits(max_readings=100_000)
    try:
        from lithair_node.node.ingest.typed_rows import TypedRows
        typed: Any = TypedRows()
    except ImportError:  # a baseline tree from before it
        typed = None

    def total(raw: bytes) -> Any:
        found = None if typed is None else typed.columns(raw, limits)
        if found is None:
            body = decode_json(raw)
            found = validate_batch(body, limits)
            if typed is not None:
                typed.learn(body)
        return make_encoded_batch(found[0], "key", found[1])

    def from_msgpack(raw: bytes) -> Any:
        found = validate_batch(msgpack.unpackb(raw), limits)
        return make_encoded_batch(found[0], "key", found[1])

    return {"decode": decode_json, "validate": lambda body: validate_batch(body, limits),
            "encode": lambda cv: make_encoded_batch(cv[0], "key", cv[1]), "total": total,
            "msgpack": from_msgpack}


def measure(sensors: int, batch: int, bodies: int, passes: int) -> dict[str, float]:
    """µs of CPU per reading of each stage, best of `passes`."""
    factory = BodyFactory(0, sensors, batch)
    raws = [factory.body(n) for n in range(bodies)]
    stages = _stages()
    decoded = [stages["decode"](raw) for raw in raws]
    validated = [stages["validate"](body) for body in decoded]
    packed = [msgpack.packb(body, use_bin_type=True) for body in decoded]
    inputs = {"decode": raws, "validate": decoded, "encode": validated, "total": raws,
              "msgpack": packed}
    best: dict[str, float] = {}
    for _ in range(passes):
        for name, run in stages.items():
            items = inputs[name]  # validation does not change its input: decoded bodies reused
            started = time.process_time()
            for item in items:
                run(item)
            per = (time.process_time() - started) / (len(items) * batch) * 1e6
            best[name] = round(min(best.get(name, per), per), 4)
    return best


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sensors", type=int, default=250, help="sensors per client (250: S=1,000)")
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--bodies", type=int, default=200)
    p.add_argument("--passes", type=int, default=5)
    p.add_argument("--baseline-src", type=Path, default=None)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--label", default="")
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = measure(args.sensors, args.batch, args.bodies, args.passes)
    if args.child:
        print(json.dumps(result))
        return 0
    report: dict[str, Any] = {"benchmark": "decode", "date": utc_now(), "machine": machine_info(),
                              "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                              "settings": {k: str(v) for k, v in vars(args).items()},
                              "label": args.label, "us_per_reading": {"current": result}}
    if args.baseline_src is not None:
        # Here only: a child runs this file with the baseline's modules, which may lack it.
        from lithair_node.lab.bench.results import child_result

        report["us_per_reading"]["baseline"] = child_result(__file__, [
            "--sensors", str(args.sensors), "--batch", str(args.batch),
            "--bodies", str(args.bodies), "--passes", str(args.passes)], args.baseline_src)
    print(f"{'stage':<10}" + "".join(f"{name:>12}" for name in report["us_per_reading"]))
    for stage in result:
        print(f"{stage:<10}" + "".join(f"{r[stage]:>12.3f}" for r in report["us_per_reading"].values()))
    path = write_results(args.out, "decode", report)
    print(f"\nresults: {shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
