"""The table ingest.py prints: one row per run, ratios to the ceiling, etcd and the
baseline of the same batch size."""

from __future__ import annotations

from typing import Any


def _cell(value: Any, fmt: str = "{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def print_table(report: dict[str, Any]) -> None:
    header = (f"{'system':<12}{'batch':>7}{'readings/s':>12}{'x ceil':>8}{'x etcd':>8}{'x base':>8}"
              f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'leader cpu%':>13}{'follower cpu%':>15}"
              f"{'leader MB':>11}{'follower MB':>13}")
    lines = [header, "-" * len(header)]
    runs = report["runs"]
    for row in runs:
        if "error" in row or row.get("readings_per_s") is None:
            lines.append(f"{row['system']:<12}{_cell(row.get('batch'), '{}'):>7}  "
                         f"{row.get('error') or row.get('skipped')}")
            continue
        procs = row.get("processes") or {}
        leader = procs.get("leader", {})
        followers = [v for k, v in procs.items() if k != "leader"]
        f_cpu = sum(f["cpu_pct"] for f in followers) / len(followers) if followers else None
        f_rss = max(f["rss_mb"] for f in followers) if followers else None
        ceil = next((r["readings_per_s"] for r in runs if r["system"] == "ceiling"
                     and r.get("batch") == row.get("batch") and r.get("readings_per_s")), None)
        etcd = next((r["readings_per_s"] for r in runs if r["system"] == "etcd"
                     and r.get("batch") == row.get("batch") and r.get("readings_per_s")), None)
        base = next((r["readings_per_s"] for r in runs if r["system"] == "baseline"
                     and r.get("batch") == row.get("batch") and r.get("readings_per_s")), None)
        rate = row["readings_per_s"]
        lithair_like = row["system"] in ("lithair", "lithair-col", "baseline") and not row.get("rate_pct")
        vs_etcd = rate / etcd if etcd and lithair_like else None
        vs_base = (rate / base if base and row["system"] in ("lithair", "lithair-col")
                   and not row.get("rate_pct") else None)
        lat = row.get("latency_ms") or {}
        name = row["system"] + (f"@{row['rate_pct']}%" if row.get("rate_pct") else "")
        lines.append(
            f"{name:<12}{_cell(row.get('batch'), '{}'):>7}{rate:>12,}"
            f"{_cell(rate / ceil if ceil and row['system'] != 'ceiling' else None, '{:.2f}'):>8}"
            f"{_cell(vs_etcd, '{:.2f}'):>8}{_cell(vs_base, '{:.2f}'):>8}"
            f"{_cell(lat.get('p50'), '{:.1f}'):>9}{_cell(lat.get('p95'), '{:.1f}'):>9}"
            f"{_cell(lat.get('p99'), '{:.1f}'):>9}{_cell(leader.get('cpu_pct'), '{:.0f}'):>13}"
            f"{_cell(f_cpu, '{:.0f}'):>15}{_cell(leader.get('rss_mb'), '{:.0f}'):>11}"
            f"{_cell(f_rss, '{:.0f}'):>13}"
        )
    print("\n".join(lines))
