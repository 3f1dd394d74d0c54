#!/usr/bin/env python3
"""From `perf sched timehist` output: every wake-up of a measured thread
(ringway-shard, load-, serve-, haproxy) that waited over THRESH ms for its CPU,
and which tasks ran on that CPU meanwhile (the culprits), summed per culprit."""
import collections, re, sys

path, thresh = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
ours = re.compile(r"^(ringway-shard|load-|serve-|haproxy)")
rows = []
for line in open(path):
    f = line.split()
    if len(f) < 6 or not f[1].startswith("["):
        continue
    try:
        t, cpu, name = float(f[0]), f[1], f[2]
        wait, delay, run = float(f[-3]), float(f[-2]), float(f[-1])
    except ValueError:
        continue
    rows.append((t, cpu, name, wait, delay, run))
by_cpu = collections.defaultdict(list)
for r in rows:
    by_cpu[r[1]].append(r)
culprits = collections.Counter()
events = collections.Counter()
worst = []
for cpu, rs in by_cpu.items():
    for i, (t, _, name, wait, delay, run) in enumerate(rs):
        if not ours.match(name) or delay < thresh:
            continue
        short = re.sub(r"\[.*", "", name)
        events[short] += 1
        start = t - run - delay / 1000.0 * 1000 / 1000  # seconds
        start = t - run / 1000.0 - delay / 1000.0
        end = t - run / 1000.0
        who = collections.Counter()
        for (t2, _, n2, _, _, r2) in rs[max(0, i - 200):i]:
            a, b = t2 - r2 / 1000.0, t2
            ov = max(0.0, min(b, end) - max(a, start))
            if ov > 0:
                who[re.sub(r"\[.*", "", n2)] += ov * 1000
        for k, v in who.items():
            culprits[k] += v
        worst.append((delay, t, cpu, short, dict(who.most_common(3))))
print(f"wake-ups delayed over {thresh} ms, per measured thread: {dict(events)}")
print("CPU time (ms) others ran while a measured thread waited, per task:")
for k, v in culprits.most_common(12):
    print(f"  {k:<28}{v:8.2f}")
print("worst 10:")
for w in sorted(worst, reverse=True)[:10]:
    print(f"  {w[0]:6.2f} ms at {w[1]:.6f} {w[2]} {w[3]}: {w[4]}")
