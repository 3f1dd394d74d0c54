#!/usr/bin/env python3
"""Per run: latency (from intended send), service (send to response) and send
delay p99 / p99.9 / max in µs, loadgen CPU, validity; then medians per target."""
import glob, json, os, statistics, sys

out = sys.argv[1]
rows = {}
print(f"{'run':<14}{'lat p99':>9}{'p99.9':>9}{'max':>9}{'svc p99':>9}{'p99.9':>9}{'max':>9}{'sd p99':>9}{'p99.9':>9}  valid")
for f in sorted(glob.glob(os.path.join(out, "*.json")), key=lambda p: (int(os.path.basename(p).split("-")[0]), p)):
    d = json.load(open(f))
    r = d["result"]
    l, s, sd = r["latency_us"], r["service_us"], r["send_delay_us"]
    name = os.path.basename(f)[:-5]
    tgt = name.split("-", 1)[1]
    v = [l["p99"], l["p99_9"], l["max"], s["p99"], s["p99_9"], s["max"], sd["p99"], sd["p99_9"]]
    rows.setdefault(tgt, []).append(v)
    print(f"{name:<14}" + "".join(f"{x:9.0f}" for x in v) + f"  {d['validity']['valid']}")
print("median")
for t, vs in rows.items():
    print(f"{t:<14}" + "".join(f"{statistics.median(c):9.0f}" for c in zip(*vs)))
