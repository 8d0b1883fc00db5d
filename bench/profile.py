#!/usr/bin/env python3
"""Profiles behind the targets BENCHMARKS.md reports as not met: where the
plugin's idle CPU and memory go. Run through `bench/run.sh --profile`.

Writes bench-results/profiles/*.txt:
  idle-<transport>-<hb>s.txt   client-thread CPU, its syscalls (strace -c on
                               that thread only) and a perf profile of that
                               thread (callers of the top symbols)
  memory.txt                   resident memory by mapping, host with plugin
                               minus host without (/proc/<pid>/smaps)
  massif-idle.txt              heap of the C host + plugin, connected (valgrind massif)
  massif-apply-16MiB.txt       heap while a 16 MiB remote config arrives and applies
  massif-churn-200.txt         heap of the C host + plugin over 200 reloads

Uses FLUENT_BIT_BIN for the smaps comparison when set; the massif runs
always use the C host (valgrind on Fluent Bit itself is too slow to settle).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness.hosts import CLIENT_THREAD, Env, Host, pad_config  # noqa: E402
from harness.peers import OpampServer  # noqa: E402
from harness.procs import CpuWindow, Proc, tasks  # noqa: E402


def run(cmd, timeout):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return r.stdout + r.stderr


def client_tid(pid):
    for tid, name in tasks(pid):
        if name == CLIENT_THREAD:
            return tid
    return None


def idle(env, out, transport, hb, secs):
    srv = OpampServer("profile")
    opamp = {"Endpoint": srv.ws_url if transport == "ws" else srv.http_url,
             "Heartbeat_Interval": "%ds" % hb, "Poll_Interval": "%ds" % hb}
    h = Host(env, "profile-%s-%d" % (transport, hb), plugin=True, opamp=opamp, bootstrap_size=512)
    lines = ["# plugin client thread, %s, %d s heartbeat, %s" % (transport, hb, env.host_label())]
    try:
        h.start()
        h.wait_client_thread()
        time.sleep(3)
        tid = client_tid(h.pid)
        w = CpuWindow(h.pid, CLIENT_THREAD).start()
        time.sleep(secs)
        c = w.stop()
        lines.append("\n## CPU without tracing: %.2f ms in %.0f s = %.2f ms/min, %d messages"
                     % (c["thread_cpu_s"] * 1000, c["window_s"], c["thread_cpu_s"] / c["window_s"] * 60000,
                        srv.rec.next_index()))
        if shutil.which("strace"):
            t = run(["timeout", str(int(secs)), "strace", "-c", "-p", str(tid)], secs + 30)
            lines.append("\n## strace -c -p %d (the client thread only), %.0f s\n%s" % (tid, secs, t))
        if shutil.which("perf"):
            data = os.path.join(out, "perf-%s-%d.data" % (transport, hb))
            rec = run(["perf", "record", "-F", "20000", "--call-graph", "dwarf,16384", "-o", data,
                       "-t", str(tid), "--", "sleep", str(int(secs))], secs + 60)
            lines.append("\n## perf record -F 20000 --call-graph dwarf -t %d, %.0f s\n%s" % (tid, secs, rec.strip()))
            rep = run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym", "--stdio",
                       "-g", "caller,0.5,callee,function,percent", "--percent-limit", "3"], 300)
            lines.append("\n## perf report --no-children (symbols >= 3%% of the thread's samples, with callers)\n"
                         + "\n".join(l for l in rep.split("\n") if l.strip() and not l.startswith("#"))[:20000])
            dso = run(["perf", "report", "-i", data, "--no-children", "--sort", "dso", "--stdio", "-g", "none"], 300)
            lines.append("\n## perf report --sort dso (where the thread's CPU goes)\n"
                         + "\n".join(l for l in dso.split("\n") if l.strip() and not l.startswith("#")))
            os.remove(data)
    finally:
        h.stop()
        srv.stop()
    with open(os.path.join(out, "idle-%s-%ds.txt" % (transport, hb)), "w") as f:
        f.write("\n".join(lines) + "\n")


def smaps_by_mapping(pid):
    out = {}
    name = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            p = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+$", p[0]):
                s, e = [int(x, 16) for x in p[0].split("-")]
                path = p[5] if len(p) > 5 else ""
                if path:
                    name = "%s %s" % (os.path.basename(path), p[1])
                else:
                    name = "[anon %s, mapping %d KiB]" % (p[1], (e - s) // 1024)
            elif p[0] in ("Rss:", "Anonymous:"):
                key = (name, p[0][:-1])
                out[key] = out.get(key, 0) + int(p[1])
    return out


def memory(env, out):
    srv = OpampServer("profile-mem")
    base = Host(env, "profile-mem-base", plugin=False, bootstrap_size=512)
    plug = Host(env, "profile-mem-plugin", plugin=True, bootstrap_size=512,
                opamp={"Endpoint": srv.ws_url, "Heartbeat_Interval": "30s"})
    try:
        base.start()
        plug.start()
        plug.wait_client_thread()
        time.sleep(10)
        a, b = smaps_by_mapping(base.pid), smaps_by_mapping(plug.pid)
        ta = [n for _, n in tasks(base.pid)]
        tb = [n for _, n in tasks(plug.pid)]
    finally:
        base.stop()
        plug.stop()
        srv.stop()
    lines = ["# resident memory by mapping, %s, connected over WebSocket, 30 s heartbeat" % env.host_label(),
             "threads without plugin: %s" % ", ".join(ta), "threads with plugin:    %s" % ", ".join(tb), "",
             "Rss and Anonymous (private dirty, incl. relocated pages of files) per mapping, KiB;"
             " anonymous mappings are grouped by permissions and size", "",
             "%9s %9s %9s %9s %9s %9s  mapping" % ("Rss with", "without", "added", "Anon with", "without", "added")]
    names = set(k[0] for k in a) | set(k[0] for k in b)

    def g(m, n, f):
        return m.get((n, f), 0)
    for n in sorted(names, key=lambda n: -(g(b, n, "Rss") - g(a, n, "Rss"))):
        dr, da = g(b, n, "Rss") - g(a, n, "Rss"), g(b, n, "Anonymous") - g(a, n, "Anonymous")
        if dr or da:
            lines.append("%9d %9d %9d %9d %9d %9d  %s" % (g(b, n, "Rss"), g(a, n, "Rss"), dr,
                                                         g(b, n, "Anonymous"), g(a, n, "Anonymous"), da, n))

    def tot(m, f):
        return sum(v for k, v in m.items() if k[1] == f)
    lines.append("%9d %9d %9d %9d %9d %9d  TOTAL" % (tot(b, "Rss"), tot(a, "Rss"), tot(b, "Rss") - tot(a, "Rss"),
                                                   tot(b, "Anonymous"), tot(a, "Anonymous"),
                                                   tot(b, "Anonymous") - tot(a, "Anonymous")))
    with open(os.path.join(out, "memory.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def massif(env, out, name, secs, offer_size=0):
    if not shutil.which("valgrind"):
        return
    srv = OpampServer("profile-massif")
    d = os.path.join(env.workdir, "massif-" + name)
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "fluent-bit.conf")
    managed = os.path.join(d, "managed", "pipeline.conf")
    os.makedirs(os.path.dirname(managed), exist_ok=True)
    with open(managed, "w") as f:
        f.write("# managed\n")
    with open(conf, "w") as f:
        f.write("[SERVICE]\n    Flush 1\n    Hot_Reload On\n\n[INPUT]\n    Name opamp\n    Endpoint %s\n"
                "    State_Dir %s\n    Heartbeat_Interval 1s\n    Max_Message_Size 64M\n    Max_Config_Size 64M\n"
                "    Remote_Config On\n    Managed_Config %s\n    HTTP_Server http://127.0.0.1:9\n\n"
                "@INCLUDE managed/pipeline.conf\n" % (srv.ws_url, os.path.join(d, "state"), managed))
    mout = os.path.join(d, "massif.out")
    p = Proc("massif", ["valgrind", "--tool=massif", "--massif-out-file=" + mout, "--depth=40", "--detailed-freq=3",
                        env.proxy_host, "--plugin", env.plugin, "-c", conf, "--scenario", "sighup",
                        "--steady-ms", "0", "--log", os.path.join(d, "host.log")])
    try:
        end = time.monotonic() + 60
        while srv.rec.next_index() < 2 and time.monotonic() < end:
            time.sleep(0.2)
        outcome = ""
        if offer_size:
            body = pad_config("[INPUT]\n    Name dummy\n", offer_size).encode()
            h = srv.offer({"": (body, "text/x-fluent-bit")})
            final = srv.rec.wait_for(lambda r: r.get("rcs") and r["rcs"]["hash"] == h
                                     and r["rcs"]["status"] in (1, 3), secs * 4)
            outcome = ("remote config status: %s %s" % (
                {1: "APPLIED", 3: "FAILED"}[final["rcs"]["status"]], final["rcs"]["error"])
                if final else "no APPLIED/FAILED within %d s" % (secs * 4))
        time.sleep(secs)
    finally:
        p.stop(timeout=30)
        srv.stop()
    if os.path.exists(mout):
        txt = run(["ms_print", "--threshold=2", mout], 120)
        with open(os.path.join(out, "massif-%s.txt" % name), "w") as f:
            f.write("# C host + plugin under valgrind massif; %s\n" % (outcome or "connected, idle"))
            f.write(txt.replace("(in %s)" % env.plugin, ""))


def massif_churn(env, out, reloads):
    """Heap of the C host + plugin (connected) over many reloads: does it grow?"""
    if not shutil.which("valgrind"):
        return
    srv = OpampServer("profile-churn")
    d = os.path.join(env.workdir, "massif-churn")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "fluent-bit.conf")
    with open(conf, "w") as f:
        f.write("[SERVICE]\n    Flush 1\n    Hot_Reload On\n\n[INPUT]\n    Name opamp\n    Endpoint %s\n"
                "    State_Dir %s\n    HTTP_Server http://127.0.0.1:9\n" % (srv.ws_url, os.path.join(d, "state")))
    mout = os.path.join(d, "massif.out")
    p = Proc("massif-churn", ["valgrind", "--tool=massif", "--massif-out-file=" + mout, "--depth=30",
                              "--time-unit=ms", env.proxy_host, "--plugin", env.plugin, "-c", conf,
                              "--scenario", "reload", "--reloads", str(reloads), "--steady-ms", "50",
                              "--interval-ms", "10", "--log", os.path.join(d, "host.log")])
    try:
        p.p.wait(timeout=900)
    finally:
        p.stop(timeout=30)
        srv.stop()
    if os.path.exists(mout):
        txt = run(["ms_print", "--threshold=5", mout], 120)
        with open(os.path.join(out, "massif-churn-%d.txt" % reloads), "w") as f:
            f.write("# C host + plugin connected over WebSocket, %d reloads (C host 'reload' scenario), "
                    "heap over time; connections seen by the server: %d\n" % (reloads, srv.connections_seen))
            f.write(txt.replace("(in %s)" % env.plugin, ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--null-plugin", required=True)
    ap.add_argument("--proxy-host", required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--only", default="idle,memory,massif,churn")
    ap.add_argument("--node-dir", default="")
    ap.add_argument("--python-client", default="")
    args = ap.parse_args()
    root = os.path.dirname(HERE)
    results = os.path.join(root, "bench-results")
    out = os.path.join(results, "profiles")
    os.makedirs(out, exist_ok=True)
    fb = None
    if os.environ.get("FLUENT_BIT_BIN"):
        fb = [p for p in os.environ["FLUENT_BIT_BIN"].replace(",", ":").split(":") if p.strip()][0]
    workdir = os.path.join("/tmp", "fbopamp-profile-%d" % os.getpid())
    env = Env(root, results, os.path.abspath(args.plugin), os.path.abspath(args.null_plugin),
              os.path.abspath(args.proxy_host), fb, "node", "", "", workdir)
    try:
        only = args.only.split(",")
        if "idle" in only:
            for transport, hb in (("ws", 30), ("ws", 1), ("http", 1), ("http", 30)):
                print("profiling idle %s %d s" % (transport, hb), flush=True)
                idle(env, out, transport, hb, args.seconds)
        if "memory" in only:
            print("memory by mapping", flush=True)
            memory(env, out)
        if "massif" in only:
            print("massif: idle", flush=True)
            massif(env, out, "idle", 20)
            print("massif: applying a 16 MiB remote config", flush=True)
            massif(env, out, "apply-16MiB", 25, offer_size=16 << 20)
        if "churn" in only:
            print("massif: 200 reloads", flush=True)
            massif_churn(env, out, 200)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("profiles in %s" % out)


if __name__ == "__main__":
    main()
