#!/usr/bin/env python3
"""What management costs: the plugin measured next to separate-process OpAMP
clients, in one run. Start it with bench/run.sh (which builds and installs
the peers); see BENCHMARKS.md for what each figure means.

Every figure comes from the kernel (/proc/<pid>/status VmRSS and VmHWM,
/proc/<pid>/stat utime+stime, per-thread /proc/<pid>/task/<tid>/schedstat)
or from the wire (bytes counted by loopback peers in bench/harness/peers.py).
A figure that cannot be measured is printed as "not available: <reason>".
"""

import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import pb  # noqa: E402
from harness.hosts import CLIENT_THREAD, Env, Host, large_pipeline, pad_config  # noqa: E402
from harness.peers import CountingProxy, OpampServer  # noqa: E402
from harness.procs import (CpuWindow, HarnessError, Proc, RssSampler, mapping_rss,  # noqa: E402
                           reset_hwm, rss_kib, smaps_rollup, stat_cpu_s, status)

MIB = 1024.0  # KiB per MiB


# ----------------------------------------------------------------------------
# results


class Results:
    def __init__(self):
        self.rows = []
        self.raw = {}
        self.errors = []
        self.phases = {}

    def add(self, section, subject, metric, value, unit, target=None, verdict=None, note=""):
        self.rows.append({
            "section": section, "subject": subject, "metric": metric,
            "value": value, "unit": unit, "target": target, "verdict": verdict,
            "note": note, "available": True,
        })

    def na(self, section, subject, metric, reason, target=None):
        self.rows.append({
            "section": section, "subject": subject, "metric": metric,
            "value": None, "unit": "", "target": target,
            "verdict": "not available" if target else None,
            "note": "not available: " + reason, "available": False,
        })


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 100:
            return "%.0f" % v
        if abs(v) >= 10:
            return "%.1f" % v
        return "%.3g" % v
    return str(v)


def print_table(R, out=sys.stdout):
    cols = ["section", "subject", "metric", "value", "target", "verdict"]
    rows = []
    for r in R.rows:
        val = "not available*" if not r["available"] else "%s %s" % (fmt(r["value"]), r["unit"])
        rows.append([r["section"], r["subject"], r["metric"], val, r["target"] or "", r["verdict"] or ""])
    widths = [max(len(c), *(len(x[i]) for x in rows)) if rows else len(c) for i, c in enumerate(cols)]
    widths = [min(w, 70) for w in widths]
    line = " | ".join(c.ljust(w) for c, w in zip(cols, widths))
    print(line, file=out)
    print("-+-".join("-" * w for w in widths), file=out)
    for x in rows:
        print(" | ".join(v.ljust(w) if len(v) <= w else v for v, w in zip(x, widths)), file=out)
    notes = [(r["section"], r["subject"], r["metric"], r["note"]) for r in R.rows if r["note"]]
    if notes:
        print("\nnotes (* = reason a figure is not available):", file=out)
        for s, subj, m, n in notes:
            print("  [%s] %s / %s: %s" % (s, subj, m, n), file=out)


def write_markdown(R, meta, path):
    """The same figures as the table, as Markdown (pasted into BENCHMARKS.md)."""
    def val(r):
        return "%s %s" % (fmt(r["value"]), r["unit"]) if r["available"] else "not available"
    with open(path, "w") as f:
        f.write("Run: %s, %s mode, host %s, load average %s at start, %s at end, %.0f s.\n\n" % (
            meta["date"], meta["mode"], meta["host"], " ".join("%.2f" % x for x in meta["load_start"]),
            " ".join("%.2f" % x for x in meta["load_end"]), meta["seconds"]))
        f.write("| section | subject | metric | value | target | verdict | note |\n|---|---|---|---|---|---|---|\n")
        for r in R.rows:
            f.write("| %s |\n" % " | ".join(x.replace("|", "/") for x in (
                r["section"], r["subject"], r["metric"].strip(), val(r), r["target"] or "", r["verdict"] or "",
                r["note"])))


def median(xs):
    return statistics.median(xs) if xs else None


def p95(xs):
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]


def verdict(ok):
    return "met" if ok else "NOT MET"


def loadavg():
    return list(os.getloadavg())


# ----------------------------------------------------------------------------
# separate-process clients and the common HTTP server


RUNNING = []  # every Proc and peer, stopped on exit


def track(x):
    RUNNING.append(x)
    return x


def stop_all():
    while RUNNING:
        x = RUNNING.pop()
        try:
            x.stop()
        except Exception:
            pass


def start_mock(env, life):
    p = track(Proc("mockopampserver", [env.node, os.path.join(env.node_dir, "mock_server.js")],
                   env={**os.environ, "BENCH_MAX_LIFE_S": str(int(life))},
                   log_path=os.path.join(env.logdir, "mockopampserver.log")))
    t = p.wait_for("ENDPOINT ", 30)
    if t is None:
        raise HarnessError("mockopampserver did not start:\n" + p.text())
    url = [l for l in p.text().split("\n") if l.startswith("ENDPOINT ")][0].split()[1]
    port = int(url.split(":")[2].split("/")[0])
    return p, port


def start_node_client(env, url, hb, life, name):
    p = track(Proc(name, [env.node, os.path.join(env.node_dir, "node_client.js"), url, str(hb)],
                   env={**os.environ, "BENCH_MAX_LIFE_S": str(int(life))},
                   log_path=os.path.join(env.logdir, name + ".log")))
    if p.wait_for("READY", 30) is None:
        raise HarnessError("node client did not start:\n" + p.text())
    return p


def start_py_client(env, url, hb, conf, life, name):
    p = track(Proc(name, [env.py, os.path.join(HERE, "clients", "py_client.py"), url, str(hb), conf],
                   env={**os.environ, "BENCH_MAX_LIFE_S": str(int(life))},
                   log_path=os.path.join(env.logdir, name + ".log")))
    if p.wait_for("READY", 60) is None:
        raise HarnessError("python client did not start:\n" + p.text())
    return p


def wait_messages(rec, n, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if rec.next_index() >= n:
            return
        time.sleep(0.1)
    raise HarnessError("%s: expected %d OpAMP messages, saw %d in %ds" % (what, n, rec.next_index(), timeout))


# ----------------------------------------------------------------------------
# 1 + 2: memory and idle CPU, plugin next to separate processes


def phase_idle(env, args, R):
    """Memory (1) and idle CPU (2). For each heartbeat period, at the same
    time: two hosts without the plugin, the host with the plugin over
    WebSocket and over HTTP, and the Node and Python clients over HTTP, all
    HTTP ones against one @elastic/mockopampserver (through counting proxies)."""
    host_label = env.host_label()
    life = args.window_1s + args.window_30s + args.warmup + 300
    mock, mock_port = start_mock(env, life)
    groups = {}
    for hb in (1, 30):
        g = {"hb": hb, "subjects": {}}
        groups[hb] = g
        ws_srv = track(OpampServer("ws%d" % hb))
        plugin_common = {"Heartbeat_Interval": "%ds" % hb, "Poll_Interval": "%ds" % hb}
        hosts = {
            "base-a": Host(env, "idle%d-base-a" % hb, plugin=False, bootstrap_size=512),
            "base-b": Host(env, "idle%d-base-b" % hb, plugin=False, bootstrap_size=512),
            "plugin-ws": Host(env, "idle%d-plugin-ws" % hb, plugin=True, bootstrap_size=512,
                              opamp={"Endpoint": ws_srv.ws_url, **plugin_common}),
        }
        if env.fb_bin:
            hosts["null"] = Host(env, "idle%d-null-plugin" % hb, plugin="null", bootstrap_size=512)
        http_proxy = track(CountingProxy("plugin-http%d" % hb, mock_port))
        hosts["plugin-http"] = Host(env, "idle%d-plugin-http" % hb, plugin=True, bootstrap_size=512,
                                    opamp={"Endpoint": http_proxy.url(), **plugin_common})
        for k, h in hosts.items():
            track(h)
            h.start()
            g["subjects"][k] = {"pid": h.pid, "comm": CLIENT_THREAD if h.plugin is True else None, "host": h}
        g["subjects"]["plugin-ws"]["rec"] = ws_srv.rec
        g["subjects"]["plugin-http"]["rec"] = http_proxy.rec
        conf = hosts["plugin-ws"].conf  # the same 0.5 KB bootstrap, reported as effective config
        node_proxy = track(CountingProxy("node%d" % hb, mock_port))
        node = start_node_client(env, node_proxy.url(), hb, life, "idle%d-node" % hb)
        g["subjects"]["node"] = {"pid": node.pid, "comm": None, "rec": node_proxy.rec}
        if args.no_python:
            R.na("memory", "Python opentelemetry-opamp-client", "RSS", "--no-python given")
        else:
            py_proxy = track(CountingProxy("python%d" % hb, mock_port))
            py = start_py_client(env, py_proxy.url(), hb, conf, life, "idle%d-python" % hb)
            g["subjects"]["python"] = {"pid": py.pid, "comm": None, "rec": py_proxy.rec}

    for hb, g in groups.items():
        for k, s in g["subjects"].items():
            if "rec" in s:
                wait_messages(s["rec"], 2, 60, "idle%d %s" % (hb, k))
            if s.get("comm") and not s["host"].wait_client_thread():
                raise HarnessError("idle%d %s: no %s thread" % (hb, k, CLIENT_THREAD))
    time.sleep(args.warmup)

    load0 = loadavg()
    windows = {}
    counts0 = {}
    wire0 = {}
    for hb, g in groups.items():
        for k, s in g["subjects"].items():
            windows[(hb, k)] = CpuWindow(s["pid"], s.get("comm")).start()
            if "rec" in s:
                counts0[(hb, k)] = s["rec"].next_index()
                wire0[(hb, k)] = s["rec"].snapshot()[1]
    sampler = RssSampler({"%d/%s" % (hb, k): s["pid"] for hb, g in groups.items()
                          for k, s in g["subjects"].items()}, period=1.0).start()
    t0 = time.monotonic()
    cpu = {}
    for hb in sorted(groups, key=lambda h: args.window_1s if h == 1 else args.window_30s):
        w = args.window_1s if hb == 1 else args.window_30s
        time.sleep(max(0, t0 + w - time.monotonic()))
        for k, s in groups[hb]["subjects"].items():
            if not os.path.exists("/proc/%d" % s["pid"]):
                raise HarnessError("idle%d %s exited during the window" % (hb, k))
            cpu[(hb, k)] = windows[(hb, k)].stop()
            cpu[(hb, k)]["final_rss_kib"] = rss_kib(s["pid"])
            cpu[(hb, k)]["status"] = status(s["pid"])
            if "host" in s:
                cpu[(hb, k)]["smaps"] = smaps_rollup(s["pid"])
                cpu[(hb, k)]["plugin_so_rss_kib"] = mapping_rss(s["pid"], os.path.basename(env.plugin))
            if "rec" in s:
                cpu[(hb, k)]["messages"] = s["rec"].next_index() - counts0[(hb, k)]
                tot = s["rec"].snapshot()[1]
                cpu[(hb, k)]["wire_in"] = tot["wire_in"] - wire0[(hb, k)]["wire_in"]
                cpu[(hb, k)]["wire_out"] = tot["wire_out"] - wire0[(hb, k)]["wire_out"]
    samples = sampler.stop()
    R.phases.setdefault("idle", {}).update({"load_window_start": load0, "load_window_end": loadavg()})

    subject_names = {
        "plugin-ws": "plugin in host, WebSocket",
        "plugin-http": "plugin in host, HTTP",
        "node": "Node client process, HTTP",
        "python": "Python client process, HTTP",
    }
    raw = {}
    for hb, g in groups.items():
        def rss_of(k):
            xs = [v for _, v in samples["%d/%s" % (hb, k)]]
            half = xs[len(xs) // 2:] or xs
            return {"median_last_half_kib": median(half), "final_kib": cpu[(hb, k)]["final_rss_kib"],
                    "max_kib": max(xs) if xs else None, "samples": len(xs)}
        rss = {k: rss_of(k) for k in g["subjects"]}
        raw["hb%d" % hb] = {"rss": rss, "cpu": {k: cpu[(hb, k)] for k in g["subjects"]}}
        for k in raw["hb%d" % hb]["cpu"]:
            raw["hb%d" % hb]["cpu"][k].pop("status", None)
        base = (rss["base-a"]["median_last_half_kib"] + rss["base-b"]["median_last_half_kib"]) / 2
        noise = abs(rss["base-a"]["median_last_half_kib"] - rss["base-b"]["median_last_half_kib"])
        win = cpu[(hb, "base-a")]["window_s"]
        label = "%d s heartbeat" % hb
        R.add("memory", "host without plugin", "RSS, %s" % label, base / MIB, "MiB",
              note="mean of two identical hosts; they differ by %.2f MiB (noise floor)" % (noise / MIB))
        for k in ("plugin-ws", "plugin-http"):
            added = (rss[k]["median_last_half_kib"] - base) / MIB
            R.add("memory", subject_names[k], "RSS added, %s" % label, added, "MiB",
                  target="<= 1.5 MiB", verdict=verdict(added <= 1.5),
                  note="host with plugin %.2f MiB vs %.2f MiB without; median of the window's last half"
                       % (rss[k]["median_last_half_kib"] / MIB, base / MIB))
        if "null" in rss:
            null_added = (rss["null"]["median_last_half_kib"] - base) / MIB
            R.add("memory", "do-nothing proxy input (null plugin)", "RSS added, %s" % label, null_added, "MiB",
                  note="what Fluent Bit spends on hosting any proxy-ABI input (its flb-in-* thread and "
                       "instance); the plugin's own share is the row above minus this")
        seps = {k: rss[k]["median_last_half_kib"] for k in ("node", "python") if k in rss}
        if seps:
            lightest = min(seps, key=seps.get)
            for k in ("plugin-ws", "plugin-http"):
                added = rss[k]["median_last_half_kib"] - base
                R.add("memory", subject_names[k], "RSS added vs lightest separate client (%s), %s" % (
                    lightest, label), added / seps[lightest] * 100, "%",
                    note="%.2f MiB added vs %.2f MiB for the whole %s process" % (
                        added / MIB, seps[lightest] / MIB, lightest))
        # Where the added memory is: anonymous (heap, stacks) vs file-backed
        # (the plugin's own code pages, clean and shared with the page cache).
        base_anon = (cpu[(hb, "base-a")]["smaps"]["Anonymous"] + cpu[(hb, "base-b")]["smaps"]["Anonymous"]) / 2
        base_file = (cpu[(hb, "base-a")]["smaps"]["Rss"] - cpu[(hb, "base-a")]["smaps"]["Anonymous"]
                     + cpu[(hb, "base-b")]["smaps"]["Rss"] - cpu[(hb, "base-b")]["smaps"]["Anonymous"]) / 2
        for k in ("plugin-ws", "plugin-http"):
            sm = cpu[(hb, k)]["smaps"]
            so = cpu[(hb, k)]["plugin_so_rss_kib"]
            R.add("memory", subject_names[k], "  of which anonymous, %s" % label,
                  (sm["Anonymous"] - base_anon) / MIB, "MiB", note="smaps_rollup Anonymous, host with minus without")
            R.add("memory", subject_names[k], "  of which file-backed, %s" % label,
                  (sm["Rss"] - sm["Anonymous"] - base_file) / MIB, "MiB",
                  note="the plugin .so mapped %.2f MiB resident (%s); clean pages, reclaimable" % (
                      sum(so.values()) / MIB, ", ".join("%s %d KiB" % kv for kv in sorted(so.items()))))
        for k in ("node", "python"):
            if k in rss:
                R.add("memory", subject_names[k], "RSS, %s" % label, rss[k]["median_last_half_kib"] / MIB, "MiB",
                      note="whole separate process, %.0f s connected; final %.1f MiB%s" % (
                          args.warmup + win, rss[k]["final_kib"] / MIB,
                          "; reports a 0.5 KB effective config" if k == "python" else
                          "; this client cannot report an effective config"))
        # CPU
        plugin_cpu = {}
        base_cpu = (cpu[(hb, "base-a")]["process_cpu_s_ticks"] + cpu[(hb, "base-b")]["process_cpu_s_ticks"]) / 2
        for k in ("plugin-ws", "plugin-http"):
            c = cpu[(hb, k)]
            if not c.get("thread_found"):
                raise HarnessError("idle%d %s: client thread vanished" % (hb, k))
            per_min_ms = c["thread_cpu_s"] / c["window_s"] * 60 * 1000
            per_hour_s = c["thread_cpu_s"] / c["window_s"] * 3600
            delta_ms = (c["process_cpu_s_ticks"] - base_cpu) / c["window_s"] * 60 * 1000
            if hb == 1:
                tgt, ok = "<= 10 ms/min", per_min_ms <= 10
            else:
                tgt, ok = "<= 0.1 s/hour", per_hour_s <= 0.1
            note = ("client thread, schedstat ns, %.0f s window, %d messages; whole host minus host "
                    "without plugin: %.1f ms/min (tick resolution, base hosts differ by %.1f ms/min)" % (
                        c["window_s"], c.get("messages", 0), delta_ms,
                        abs(cpu[(hb, "base-a")]["process_cpu_s_ticks"] - cpu[(hb, "base-b")]["process_cpu_s_ticks"])
                        / c["window_s"] * 60000))
            if hb == 1:
                R.add("idle cpu", subject_names[k], "CPU, %s" % label, per_min_ms, "ms/min",
                      target=tgt, verdict=verdict(ok), note=note + "; per hour %.2f s" % per_hour_s)
            else:
                R.add("idle cpu", subject_names[k], "CPU, %s" % label, per_hour_s, "s/hour",
                      target=tgt, verdict=verdict(ok), note=note + "; %.2f ms/min" % per_min_ms)
            plugin_cpu[(hb, k)] = per_min_ms
        sep_cpu = {}
        for k in ("node", "python"):
            if (hb, k) in cpu:
                c = cpu[(hb, k)]
                per_min = c["process_cpu_s_ticks"] / c["window_s"] * 60 * 1000
                sep_cpu[k] = per_min
                R.add("idle cpu", subject_names[k], "CPU, %s" % label, per_min, "ms/min",
                      note="whole process, /proc stat ticks (10 ms), %.0f s window, %d requests; per hour %.2f s; "
                           "schedstat sum of live threads %.1f ms/min"
                           % (c["window_s"], c.get("messages", 0), c["process_cpu_s_ticks"] / c["window_s"] * 3600,
                              c["process_cpu_s_ns"] / c["window_s"] * 60000))
        if sep_cpu:
            lightest = min(sep_cpu, key=sep_cpu.get)
            for k in ("plugin-ws", "plugin-http"):
                R.add("idle cpu", subject_names[k], "CPU vs lightest separate client (%s), %s" % (lightest, label),
                      plugin_cpu[(hb, k)] / sep_cpu[lightest] * 100 if sep_cpu[lightest] else None, "%",
                      note="%.1f vs %.1f ms/min" % (plugin_cpu[(hb, k)], sep_cpu[lightest]))
        # wire volume over the window, both directions
        for k in ("plugin-ws", "plugin-http", "node", "python"):
            c = cpu.get((hb, k))
            if c and "wire_in" in c:
                per_hour = (c["wire_in"] + c["wire_out"]) / c["window_s"] * 3600 / 1024
                R.add("wire", subject_names[k], "bytes per hour on the wire, %s" % label, per_hour, "KiB/h",
                      note="agent->server %d B, server->agent %d B in %.0f s (%s; WebSocket excludes the "
                           "handshake, HTTP includes headers)" % (c["wire_in"], c["wire_out"], c["window_s"],
                                                                 "own loopback server" if k == "plugin-ws"
                                                                 else "counting proxy to mockopampserver"))
        # wire per heartbeat as seen by the common server's proxies (HTTP)
        for k in ("plugin-http", "node", "python"):
            s = g["subjects"].get(k)
            if not s or "rec" not in s:
                continue
            recs, tot = s["rec"].snapshot()
            hbs = [r for r in recs if r.get("heartbeat")]
            if hbs:
                R.add("wire", subject_names[k], "HTTP heartbeat request, %s" % label,
                      median([r["wire"] for r in hbs]), "bytes",
                      note="protobuf %s bytes, body %s bytes; %d heartbeats seen by the counting proxy" % (
                          fmt(median([r["proto"] for r in hbs])), fmt(median([r["payload"] for r in hbs])), len(hbs)))
            else:
                R.na("wire", subject_names[k], "HTTP request per heartbeat, %s" % label,
                     "no heartbeat-only request seen in the window (every request carried status)")
    R.raw["idle"] = raw
    for g in groups.values():
        for k, s in g["subjects"].items():
            if "host" in s:
                s["host"].stop()


# ----------------------------------------------------------------------------
# 3: wire


def phase_wire(env, args, R):
    sizes = [("0.5 KB", 512), ("64 KB", 65536)]
    variants = [("WebSocket", "ws", None), ("HTTP gzip", "http", "gzip"), ("HTTP no compression", "http", "none")]
    runs = []
    for size_label, size in sizes:
        for vlabel, transport, comp in variants:
            srv = track(OpampServer("wire-%s-%s" % (transport, size)))
            opamp = {"Endpoint": srv.ws_url if transport == "ws" else srv.http_url,
                     "Heartbeat_Interval": "1s", "Poll_Interval": "1s"}
            if comp:
                opamp["Compression"] = comp
            pipeline = None
            if size > 4096:
                pipeline = ("[INPUT]\n    Name dummy\n    Tag  bench\n    Rate 1\n\n"
                            "[OUTPUT]\n    Name  null\n    Match *\n\n") + large_pipeline(size - 600)
            name = "wire-%s-%s-%d" % (transport, comp or "ws", size)
            h = track(Host(env, name, plugin=True, opamp=opamp, pipeline=pipeline, bootstrap_size=size))
            runs.append((size_label, size, vlabel, transport, srv, h))
    for r in runs:
        r[5].start()
    n = 1 + args.heartbeats
    for size_label, size, vlabel, transport, srv, h in runs:
        wait_messages(srv.rec, n, 30 + n * 2, h.name)
        h.stop()
    R.phases.setdefault("wire", {}).update({"load": loadavg()})
    raw = {}
    eff_reported = None
    for size_label, size, vlabel, transport, srv, h in runs:
        recs, tot = srv.rec.snapshot()
        first = recs[0]
        hbs = [r for r in recs[1:] if r.get("heartbeat")]
        raw[h.name] = {"bootstrap_bytes": h.bootstrap_bytes, "total": tot,
                       "messages": [{k: v for k, v in r.items() if k not in ("instance_uid",)} for r in recs[:12]]}
        for m in raw[h.name]["messages"]:
            if "rcs" in m:
                m["rcs"] = {**m["rcs"], "hash": m["rcs"]["hash"].hex()}
        has_ec = "effective_config" in first["parts"]
        eff_reported = has_ec if eff_reported is None else (eff_reported and has_ec)
        subj = "plugin, %s, %s config" % (vlabel, size_label)
        if transport == "ws":
            full_val, full_note = first["payload"], "WebSocket payload (OpAMP header + protobuf); %d with framing, protobuf %d" % (
                first["wire"], first["proto"])
        else:
            full_val, full_note = first["payload"], "HTTP body%s; %d with request headers, protobuf %d" % (
                " (gzip)" if first.get("gzip") else "", first["wire"], first["proto"])
        full_note += "; parts: %s (%s)" % (", ".join(first["parts"]),
                                            ", ".join("%s %d B" % kv for kv in first["part_bytes"].items()))
        if not has_ec:
            full_note += "; EFFECTIVE CONFIG NOT REPORTED by this build (no ReportsEffectiveConfig capability, caps=0x%x)" % first["caps"]
        tgt = vd = None
        if transport == "ws" and size == 512:
            tgt = "<= 1.2 KB"
            vd = verdict(full_val <= 1200) if has_ec else "not evaluable (effective config not reported)"
        R.add("wire", subj, "full status", full_val, "bytes", target=tgt, verdict=vd, note=full_note)
        if not hbs:
            R.na("wire", subj, "heartbeat", "no heartbeat-only message within %d messages" % len(recs))
            continue
        hb = hbs[len(hbs) // 2]
        floor = len(pb.agent_to_server(hb["instance_uid"], hb["seq"], hb["caps"]))
        if transport == "ws":
            note = "payload; %d with WebSocket framing; protobuf %d, protobuf minimum for the same uid/seq/caps %d" % (
                hb["wire"], hb["proto"], floor)
            tgt = "<= 26 bytes" if size == 512 else None
            R.add("wire", subj, "heartbeat", hb["payload"], "bytes", target=tgt,
                  verdict=verdict(hb["payload"] <= 26) if tgt else None, note=note)
        else:
            R.add("wire", subj, "heartbeat", hb["wire"], "bytes",
                  note="HTTP request incl. %d header bytes; body %d%s; protobuf %d, minimum %d" % (
                      hb["headers"], hb["payload"], " (gzip)" if hb.get("gzip") else "", hb["proto"], floor))
        if size == 512 and transport == "ws":
            R.add("wire", "protobuf floor", "heartbeat (uid + seq + capabilities)", floor, "bytes",
                  note="computed by encoding the plugin's own heartbeat fields; the issue's clients sent 23")
    R.raw["wire"] = raw
    R.raw["effective_config_reported"] = eff_reported


# ----------------------------------------------------------------------------
# 4 + 6: apply latency and config scale


MANAGED = "managed/pipeline.conf"


def apply_host(env, name, srv, extra=None, plugin=True):
    opamp = {"Endpoint": srv.ws_url if srv else None, "Heartbeat_Interval": "30s",
             "Remote_Config": "On", "Managed_Config": None, "Max_Config_Size": "64M",
             "Max_Message_Size": "64M"}
    opamp.update(extra or {})
    pipeline = ("[INPUT]\n    Name dummy\n    Tag  bench\n    Rate 1\n\n"
                "[OUTPUT]\n    Name  null\n    Match *\n\n@INCLUDE %s\n" % MANAGED)
    h = Host(env, name, plugin=plugin, opamp=opamp, pipeline=pipeline,
             extra_files={MANAGED: "# managed by the OpAMP plugin\n"})
    h.opamp["Managed_Config"] = os.path.join(h.dir, MANAGED)
    h._write()
    return track(h)


def remote_pipeline(i, size=0):
    text = "[INPUT]\n    Name dummy\n    Tag  remote.%d\n    Rate 1\n" % i
    return pad_config(text, size).encode() if size else text.encode()


def apply_unavailable_reason(first):
    if not first["caps"] & pb.CAP_ACCEPTS_REMOTE_CONFIG:
        return ("the plugin does not advertise AcceptsRemoteConfig (caps=0x%x): the remote-config "
                "apply pipeline (issue 5) is not in this build" % first["caps"])
    return None


def offer_and_wait(srv, body, timeout):
    """Offers a config; returns (hash, offer time, APPLYING record, final record)."""
    since = srv.rec.next_index()
    h = srv.offer({"": (body, "text/x-fluent-bit")})
    final = srv.rec.wait_for(lambda r: r.get("rcs") and r["rcs"]["hash"] == h
                             and r["rcs"]["status"] in (pb.RCS_APPLIED, pb.RCS_FAILED), timeout, since)
    recs, _ = srv.rec.snapshot()
    applying = next((r for r in recs if r["index"] >= since and r.get("rcs") and r["rcs"]["hash"] == h
                     and r["rcs"]["status"] == pb.RCS_APPLYING), None)
    return h, srv.offer_sent_at(h), applying, final


class ReloadWatch(threading.Thread):
    """Polls the host's reload count every 5 ms; notes when it rises."""

    def __init__(self, host):
        super().__init__(daemon=True)
        self.host, self.done, self.times = host, threading.Event(), []

    def run(self):
        try:
            last = self.host.reload_count()
        except OSError:
            last = None
        while not self.done.is_set():
            try:
                n = self.host.reload_count()
                if last is not None and n > last:
                    self.times.append(time.monotonic())
                last = n
            except OSError:
                pass
            time.sleep(0.005)


def phase_apply(env, args, R):
    srv = track(OpampServer("apply"))
    h = apply_host(env, "apply-plugin", srv)
    h.start()
    wait_messages(srv.rec, 1, 30, h.name)
    first = srv.rec.snapshot()[0][0]
    reason = apply_unavailable_reason(first)
    tgt = "own steps <= 100 ms median"
    lat = []
    if reason is None:
        for i in range(args.applies + 1):
            watch = ReloadWatch(h)
            watch.start()
            hsh, t_offer, applying, final = offer_and_wait(srv, remote_pipeline(i), 90)
            watch.done.set()
            watch.join(2)
            if final is None:
                reason = "no APPLIED or FAILED within 90 s of offer %d" % (i + 1)
                break
            if final["rcs"]["status"] == pb.RCS_FAILED:
                reason = "the plugin reported FAILED for offer %d: %s" % (i + 1, final["rcs"]["error"])
                break
            if i == 0:
                continue  # warm-up
            reload_t = next((t for t in watch.times if t >= t_offer), None)
            lat.append({"total": final["t"] - t_offer,
                        "to_applying": (applying["t"] - t_offer) if applying else None,
                        "to_reload_done": (reload_t - t_offer) if reload_t else None,
                        "reload_to_applied": (final["t"] - reload_t) if reload_t else None})
    h.stop()
    if reason:
        R.na("apply latency", "plugin, WebSocket", "offer -> APPLIED", reason, target=tgt)
    # The host's own reload time, measured the same way without the plugin.
    base = track(apply_host(env, "apply-base", None, plugin=False))
    base.start()
    n = max(3, args.applies if reason is None else min(args.applies, 10))
    reloads = [base.reload() for _ in range(n)]
    base.stop()
    host_med = median(reloads)
    R.add("apply latency", "host without plugin", "SIGHUP -> reload done",
          host_med * 1000, "ms median", note="p95 %.0f ms over %d reloads (reload count %s)" % (
              p95(reloads) * 1000, n, "from GET /api/v2/reload, polled every 5 ms" if env.fb_bin
              else "from the C host's 'reload done' line"))
    R.raw["apply"] = {"latencies": lat, "host_reloads_s": reloads, "unavailable": reason}
    if reason is None and lat:
        tot = [x["total"] for x in lat]
        own = median(tot) - host_med
        R.add("apply latency", "plugin, WebSocket", "offer -> APPLIED", median(tot) * 1000, "ms median",
              note="p95 %.0f ms over %d applies" % (p95(tot) * 1000, len(tot)))
        R.add("apply latency", "plugin, WebSocket", "own steps (total - host reload)", own * 1000, "ms median",
              target=tgt, verdict=verdict(own <= 0.1),
              note="p95 of total minus median host reload: %.0f ms" % ((p95(tot) - host_med) * 1000))
        for key, label in (("to_applying", "offer -> APPLYING"), ("to_reload_done", "offer -> host reload done"),
                           ("reload_to_applied", "reload done -> APPLIED (confirm)")):
            xs = [x[key] for x in lat if x[key] is not None]
            if xs:
                R.add("apply latency", "plugin, WebSocket", label, median(xs) * 1000, "ms median",
                      note="p95 %.0f ms, %d samples" % (p95(xs) * 1000, len(xs)))


def phase_scale(env, args, R):
    sizes = [("64 KiB", 64 << 10), ("1 MiB", 1 << 20), ("16 MiB", 16 << 20)]
    if args.smoke:
        sizes = sizes[:2]
    srv = track(OpampServer("scale"))
    h = apply_host(env, "scale-plugin", srv)
    h.start()
    wait_messages(srv.rec, 1, 30, h.name)
    first = srv.rec.snapshot()[0][0]
    reason = apply_unavailable_reason(first)
    base = apply_host(env, "scale-base", None, plugin=False)
    base.start()
    raw = []
    for i, (label, size) in enumerate(sizes):
        time.sleep(1)
        rss0 = rss_kib(h.pid)
        if not reset_hwm(h.pid):
            raise HarnessError("cannot reset VmHWM of %d" % h.pid)
        body = remote_pipeline(1000 + i, size)
        t0 = time.monotonic()
        if reason is None:
            hsh, t_offer, applying, final = offer_and_wait(srv, body, 300)
            st = status(h.pid)
            if final is None or final["rcs"]["status"] != pb.RCS_APPLIED:
                why = "no final status in 300 s" if final is None else "%s: %s" % (
                    pb.RCS_NAMES[final["rcs"]["status"]], final["rcs"]["error"])
                R.na("config scale", "plugin, %s remote config" % label, "apply", why, target=None)
                raw.append({"size": size, "result": why})
                continue
            peak = (st["VmHWM"] - rss0) / MIB
            host_peak = host_reload_peak(base, body)
            R.add("config scale", "plugin, %s remote config" % label, "offer -> APPLIED",
                  (final["t"] - t_offer) * 1000, "ms")
            tgt = "<= 3x size (48 MiB)" if size == 16 << 20 else None
            R.add("config scale", "plugin, %s remote config" % label, "peak extra RSS of the host", peak, "MiB",
                  target=tgt, verdict=verdict(peak <= 3 * size / (1 << 20)) if tgt else None,
                  note="VmHWM after apply minus VmRSS before (VmHWM reset via clear_refs); %.1fx the config. "
                       "The host alone reloading the same file (no plugin) peaks at +%.1f MiB, so the plugin's "
                       "share is about %.1f MiB (%.1fx)" % (
                           peak / (size / (1 << 20)), host_peak, peak - host_peak,
                           (peak - host_peak) / (size / (1 << 20))))
            raw.append({"size": size, "t": final["t"] - t_offer, "peak_extra_mib": peak,
                        "host_alone_peak_extra_mib": host_peak})
        else:
            # Still measurable: the offer crossing the wire and being decoded.
            srv.offer({"": (body, "text/x-fluent-bit")})
            time.sleep(3 if size > 1 << 20 else 1.5)
            st = status(h.pid)
            peak = (st["VmHWM"] - rss0) / MIB
            R.na("config scale", "plugin, %s remote config" % label, "apply time and peak memory", reason,
                 target="<= 3x size (48 MiB)" if size == 16 << 20 else None)
            R.add("config scale", "plugin, %s remote config" % label, "peak extra RSS receiving the offer only",
                  peak, "MiB", note="the offer was received and decoded but not applied (%s); VmHWM minus VmRSS "
                  "before, %.1fx the config; still connected: %s" % (
                      "no AcceptsRemoteConfig", peak / (size / (1 << 20)), h.alive()))
            raw.append({"size": size, "receive_only_peak_extra_mib": peak})
    h.stop()
    base.stop()
    R.raw["scale"] = raw


def host_reload_peak(base, body):
    """Peak extra RSS of the host reloading into `body` by itself (no plugin)."""
    with open(os.path.join(base.dir, MANAGED), "wb") as f:
        f.write(body)
    time.sleep(0.5)
    rss0 = rss_kib(base.pid)
    if not reset_hwm(base.pid):
        raise HarnessError("cannot reset VmHWM of %d" % base.pid)
    base.reload(timeout=120)
    time.sleep(1)
    return (status(base.pid)["VmHWM"] - rss0) / MIB


# ----------------------------------------------------------------------------
# 5: throughput


def phase_throughput(env, args, R):
    if not env.fb_bin:
        msg = "needs real Fluent Bit: set FLUENT_BIT_BIN (the C host has no pipeline)"
        print("\n*** SKIPPED throughput: %s ***\n" % msg, flush=True)
        R.na("throughput", "dummy -> null", "records/s with plugin / without", msg, target=">= 99%")
        return
    srv = track(OpampServer("throughput"))
    pipeline = ("[INPUT]\n    Name   dummy\n    Tag    bench\n    Rate   1000\n    Copies 5000\n\n"
                "[OUTPUT]\n    Name  null\n    Match *\n")
    order = []
    for i in range(args.tp_pairs):
        order += ["without", "with"] if i % 2 == 0 else ["with", "without"]
    runs = {"with": [], "without": []}
    load0 = loadavg()
    for i, variant in enumerate(order):
        h = track(Host(env, "tp-%02d-%s" % (i, variant), plugin=(variant == "with"), pipeline=pipeline,
                       opamp={"Endpoint": srv.ws_url, "Heartbeat_Interval": "1s"}))
        h.start()
        if variant == "with" and not h.wait_client_thread():
            raise HarnessError("throughput: no client thread")
        time.sleep(args.tp_warmup)
        r0, c0, t0 = h.output_records(), stat_cpu_s(h.pid), time.monotonic()
        time.sleep(args.tp_window)
        r1, c1, t1 = h.output_records(), stat_cpu_s(h.pid), time.monotonic()
        h.stop()
        runs[variant].append({"records_per_s": (r1 - r0) / (t1 - t0), "cpu_s": c1 - c0,
                              "records_per_cpu_s": (r1 - r0) / max(c1 - c0, 1e-9), "load": loadavg()})
    R.phases.setdefault("throughput", {}).update({"load_before": load0, "load_after": loadavg()})
    R.raw["throughput"] = {"order": order, "runs": runs}
    w = [x["records_per_s"] for x in runs["with"]]
    wo = [x["records_per_s"] for x in runs["without"]]
    ratio = median(w) / median(wo)
    pairs = [a / b for a, b in zip(w, wo)]
    R.add("throughput", "dummy -> null", "records/s without plugin", median(wo), "rec/s",
          note="median of %d runs of %.0f s: %s" % (len(wo), args.tp_window, ", ".join("%.0f" % x for x in wo)))
    R.add("throughput", "dummy -> null", "records/s with plugin (connected, WS, 1 s heartbeat)",
          median(w), "rec/s", note="median of %d runs: %s" % (len(w), ", ".join("%.0f" % x for x in w)))
    R.add("throughput", "dummy -> null", "with / without", ratio * 100, "%",
          target=">= 99%", verdict=verdict(ratio >= 0.99),
          note="interleaved %s; per-pair ratios %s" % (
              "".join("A" if o == "without" else "B" for o in order), ", ".join("%.3f" % p for p in pairs)))
    ew = median([x["records_per_cpu_s"] for x in runs["with"]])
    ewo = median([x["records_per_cpu_s"] for x in runs["without"]])
    R.add("throughput", "dummy -> null", "records per CPU-second, with / without",
          ew / ewo * 100, "%", note="%.0f vs %.0f records per CPU-second (less sensitive to other load)" % (ew, ewo))


# ----------------------------------------------------------------------------
# 7: reload churn


def phase_churn(env, args, R):
    srv = track(OpampServer("churn"))
    hosts = {
        "without": track(Host(env, "churn-without", plugin=False)),
        "with": track(Host(env, "churn-with", plugin=True, opamp={"Endpoint": srv.ws_url})),
    }
    if env.fb_bin:
        hosts["with null"] = track(Host(env, "churn-null", plugin="null"))
    for h in hosts.values():
        h.start()
    hosts["with"].wait_client_thread()
    out = {}
    errors = []

    def settle_rss(h):
        time.sleep(1.0)
        xs = []
        for _ in range(5):
            xs.append(rss_kib(h.pid))
            time.sleep(0.2)
        return median(xs)

    def churn(key, h):
        try:
            d = {"rss_start": settle_rss(h), "per_reload": [], "reload_s": []}
            for i in range(1, args.reloads + 1):
                d["reload_s"].append(h.reload())
                d["per_reload"].append(rss_kib(h.pid))
                if i == 10:
                    d["rss_10"] = settle_rss(h)
            d["rss_n"] = settle_rss(h)
            d["alive"] = h.alive()
            out[key] = d
        except Exception as e:
            errors.append("%s: %s" % (key, e))

    ts = [threading.Thread(target=churn, args=(k, h)) for k, h in hosts.items()]
    load0 = loadavg()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if srv.rec.next_index() == 0:
        errors.append("the plugin host never reached the server")
    for h in hosts.values():
        h.stop()
    if errors:
        raise HarnessError("reload churn: " + "; ".join(errors))
    R.phases.setdefault("churn", {}).update({"load_before": load0, "load_after": loadavg()})
    R.raw["churn"] = out
    n = args.reloads
    growth = {}
    for k, d in out.items():
        growth[k] = (d["rss_n"] - d["rss_10"]) / MIB
        subj = "host %s plugin" % k if k != "with null" else "host with null plugin"
        half = d["per_reload"][n // 2 - 1] if n >= 20 else None
        if half is not None:
            R.add("reload churn", subj, "RSS growth, reload %d -> %d (sampled right after each reload)" % (n // 2, n),
                  (d["per_reload"][-1] - half) / MIB, "MiB",
                  note="%.2f KiB per reload: a steady leak shows here, a warm-up plateau does not" % (
                      (d["per_reload"][-1] - half) / (n - n // 2)))
        R.add("reload churn", subj, "RSS after 10 / after %d reloads" % n, d["rss_n"] / MIB, "MiB",
              note="after 10: %.2f MiB, growth %.2f MiB; start %.2f MiB; reload median %.0f ms" % (
                  d["rss_10"] / MIB, growth[k], d["rss_start"] / MIB, median(d["reload_s"]) * 1000))
    R.add("reload churn", "plugin", "connections to the server during %d reloads" % n, srv.connections_seen,
          "connections", note="1 means the connection survived every reload")
    if "with null" in growth:
        R.add("reload churn", "do-nothing proxy input (null plugin)", "growth beyond the host's own (reload 10 -> %d)"
              % n, growth["with null"] - growth["without"], "MiB",
              note="Fluent Bit reloading a proxy-ABI input that does nothing: the host's own per-reload cost "
                   "of hosting such an input")
    excess = growth["with"] - growth["without"]
    tol = 0.25
    R.add("reload churn", "plugin", "growth beyond the host's own (reload 10 -> %d)" % n, excess, "MiB",
          target="no growth beyond host (tolerance %.2f MiB)" % tol, verdict=verdict(excess <= tol),
          note="with plugin %.2f MiB, without %.2f MiB" % (growth["with"], growth["without"]))


# ----------------------------------------------------------------------------
# micro-benchmarks


def phase_micro(env, args, R):
    path = os.path.join(env.results, "micro.json")
    if os.path.exists(path):
        os.remove(path)
    cmd = ["cargo", "bench", "--bench", "core_paths", "--", "--json", path]
    if args.smoke:
        cmd.append("--quick")
    with open(os.path.join(env.logdir, "micro.log"), "w") as log:
        rc = subprocess.run(cmd, cwd=env.root, stdout=log, stderr=subprocess.STDOUT, timeout=1200).returncode
    if rc != 0 or not os.path.exists(path):
        raise HarnessError("cargo bench failed (rc=%d), see %s/micro.log" % (rc, env.logdir))
    with open(path) as f:
        items = json.load(f)
    R.raw["micro"] = items
    for it in items:
        R.add("micro", "core (benches/core_paths.rs)", it["name"], it["ns_per_iter"], "ns/iter",
              note="best %s ns, %d iterations, %d bytes out" % (fmt(it["best_ns"]), it["iterations"], it["bytes"]))


# ----------------------------------------------------------------------------
# machine and run description


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:
        return ""


def machine():
    lscpu = sh("lscpu")
    pick = {}
    for line in lscpu.split("\n"):
        k, _, v = line.partition(":")
        if k.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "Hypervisor vendor", "L3 cache"):
            pick[k.strip()] = v.strip()
    mem = sh("free -m | sed -n 2p").split()
    return {"lscpu": pick, "memory_total_mib": int(mem[1]) if len(mem) > 1 else None,
            "kernel": platform.release(), "python": platform.python_version(),
            "node": sh("node --version"), "free_m": sh("free -m")}


INTERNAL = {"--plugin", "--null-plugin", "--proxy-host", "--node-dir", "--python-client"}


def user_args():
    """The options given to bench/run.sh (without the paths it adds itself)."""
    out, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
        elif a in INTERNAL:
            skip = True
        else:
            out.append(a)
    return out


PHASES = ["micro", "idle", "wire", "apply", "scale", "throughput", "churn"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="short windows, C host only: checks the suite works")
    ap.add_argument("--only", default=",".join(PHASES), help="comma list of phases: " + ",".join(PHASES))
    ap.add_argument("--window-1s", type=float, default=180, help="idle CPU window at 1 s heartbeat (s)")
    ap.add_argument("--window-30s", type=float, default=300, help="idle CPU window at 30 s heartbeat (s)")
    ap.add_argument("--warmup", type=float, default=15, help="connected time before windows start (s)")
    ap.add_argument("--heartbeats", type=int, default=5, help="heartbeats to record per wire variant")
    ap.add_argument("--applies", type=int, default=20)
    ap.add_argument("--reloads", type=int, default=200)
    ap.add_argument("--tp-pairs", type=int, default=6, help="throughput: interleaved with/without pairs")
    ap.add_argument("--tp-window", type=float, default=12)
    ap.add_argument("--tp-warmup", type=float, default=3)
    ap.add_argument("--no-python", action="store_true")
    ap.add_argument("--out", default=None, help="JSON path (default bench-results/latest.json)")
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--null-plugin", required=True)
    ap.add_argument("--proxy-host", required=True)
    ap.add_argument("--node-dir", required=True)
    ap.add_argument("--python-client", required=True, help="python of the venv with opentelemetry-opamp-client")
    args = ap.parse_args()

    root = os.path.dirname(HERE)
    results = os.path.join(root, "bench-results")
    fb = None
    if args.smoke:
        args.window_1s, args.window_30s, args.warmup = 6, 8, 3
        args.heartbeats, args.applies, args.reloads = 2, 2, 20
        args.tp_pairs, args.tp_window = 1, 3
        if os.environ.get("FLUENT_BIT_BIN"):
            print("smoke mode: ignoring FLUENT_BIT_BIN, using the C host", flush=True)
    elif os.environ.get("FLUENT_BIT_BIN"):
        fb = [p for p in os.environ["FLUENT_BIT_BIN"].replace(",", ":").split(":") if p.strip()][0]
        if not os.access(fb, os.X_OK):
            sys.exit("FLUENT_BIT_BIN names %s, which is not executable" % fb)
    workdir = os.path.join("/tmp", "fbopamp-bench-%d" % os.getpid())
    os.makedirs(workdir, exist_ok=True)
    env = Env(root, results, os.path.abspath(args.plugin), os.path.abspath(args.null_plugin),
              os.path.abspath(args.proxy_host), fb, "node", os.path.abspath(args.node_dir),
              os.path.abspath(args.python_client), workdir)
    print("host: %s" % env.host_label(), flush=True)
    if not fb:
        print("FLUENT_BIT_BIN not set%s: measuring in the C host; throughput is skipped" % (
            " (or smoke)" if args.smoke else ""), flush=True)

    R = Results()
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": ("FLUENT_BIT_BIN=%s " % fb if fb else "") + " ".join(["bench/run.sh"] + user_args()),
        "argv": sys.argv[1:],
        "mode": "smoke" if args.smoke else "full",
        "host": env.host_label(),
        "host_kind": env.host_kind,
        "machine": machine(),
        "load_start": loadavg(),
        "git": sh("git -C %s rev-parse --short HEAD" % root) + (
            " (+uncommitted changes)" if sh("git -C %s status --porcelain -- src Cargo.toml" % root) else ""),
        "plugin_so_bytes": os.path.getsize(env.plugin),
        "settings": {k: v for k, v in vars(args).items() if k not in ("plugin", "null_plugin", "proxy_host",
                                                                          "node_dir", "python_client", "out")},
    }

    def on_signal(sig, _frame):
        stop_all()
        sys.exit(130)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    fns = {"micro": phase_micro, "idle": phase_idle, "wire": phase_wire, "apply": phase_apply,
           "scale": phase_scale, "throughput": phase_throughput, "churn": phase_churn}
    want = [p.strip() for p in args.only.split(",") if p.strip()]
    for p in want:
        if p not in fns:
            sys.exit("unknown phase %s" % p)
    t_start = time.monotonic()
    for p in PHASES:
        if p not in want:
            continue
        t0 = time.monotonic()
        R.phases.setdefault(p, {})["load_at_start"] = loadavg()
        print("== %s (load average %s)" % (p, " ".join("%.2f" % x for x in loadavg())), flush=True)
        try:
            fns[p](env, args, R)
        except Exception as e:
            tb = traceback.format_exc()
            print("HARNESS ERROR in %s: %s\n%s" % (p, e, tb), flush=True)
            R.errors.append({"phase": p, "error": str(e)})
        finally:
            stop_all()
        R.phases.setdefault(p, {})["seconds"] = round(time.monotonic() - t0, 1)
    order = ["micro", "memory", "idle cpu", "wire", "apply latency", "config scale", "throughput", "reload churn"]
    R.rows.sort(key=lambda r: order.index(r["section"]) if r["section"] in order else len(order))
    meta["load_end"] = loadavg()
    meta["seconds"] = round(time.monotonic() - t_start, 1)

    print()
    print("Results (%s run; host: %s; load average start %s, end %s)" % (
        meta["mode"], env.host_label(), " ".join("%.2f" % x for x in meta["load_start"]),
        " ".join("%.2f" % x for x in meta["load_end"])))
    print()
    print_table(R)
    out = args.out or os.path.join(results, "latest.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    doc = {"meta": meta, "phases": R.phases, "results": R.rows, "errors": R.errors, "raw": R.raw}
    with open(out, "w") as f:
        json.dump(doc, f, indent=1, default=lambda o: o.hex() if isinstance(o, bytes) else str(o))
    with open(os.path.join(results, "latest.txt"), "w") as f:
        print_table(R, f)
    write_markdown(R, meta, os.path.join(results, "latest.md"))
    print("\nTargets (issue 6):")
    for r in R.rows:
        if r["target"]:
            print("  %-13s %-44s %-28s %-16s %s" % (
                r["verdict"], r["subject"][:44], r["metric"][:28],
                ("%s %s" % (fmt(r["value"]), r["unit"])) if r["available"] else "-", r["target"]))
    print("\nJSON: %s (%.0f s)" % (out, meta["seconds"]))
    try:
        import shutil
        shutil.rmtree(workdir)
    except OSError:
        pass
    if R.errors:
        print("HARNESS ERRORS: %s" % "; ".join("%s: %s" % (e["phase"], e["error"]) for e in R.errors))
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        stop_all()
