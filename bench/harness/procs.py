"""Processes and what the kernel says about them (/proc, getrusage)."""

import collections
import os
import signal
import subprocess
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class HarnessError(Exception):
    """Something in the harness or a peer failed: the run is not valid."""


def status(pid):
    """VmRSS, VmHWM, RssAnon, RssFile... from /proc/<pid>/status, in KiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k.startswith(("Vm", "Rss")) and v.strip().endswith("kB"):
                out[k] = int(v.split()[0])
            elif k == "Threads":
                out[k] = int(v)
    return out


def rss_kib(pid):
    return status(pid)["VmRSS"]


def stat_cpu_s(pid):
    """utime+stime of the whole process (all threads, live and dead), in
    seconds, from /proc/<pid>/stat; clock-tick resolution."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime, stime are fields 14, 15.
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def tasks(pid):
    """[(tid, comm)] of the live threads."""
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                    out.append((int(tid), f.read().strip()))
            except OSError:
                pass
    except OSError:
        pass
    return out


def task_cpu_ns(pid, tid):
    """Time on CPU of one thread, in ns, from /proc/<pid>/task/<tid>/schedstat."""
    try:
        with open("/proc/%d/task/%d/schedstat" % (pid, tid)) as f:
            return int(f.read().split()[0])
    except OSError:
        return None


def threads_cpu_ns(pid, comm=None):
    """{tid: ns} for live threads (only those named `comm` when given)."""
    out = {}
    for tid, name in tasks(pid):
        if comm is None or name == comm:
            v = task_cpu_ns(pid, tid)
            if v is not None:
                out[tid] = v
    return out


class CpuWindow:
    """CPU used by a process between start() and stop(): whole process from
    /proc/<pid>/stat (ticks, includes exited threads) and, at ns resolution,
    the sum of the threads' schedstat (threads alive at both ends), plus the
    thread named `comm` when given (the plugin's client thread)."""

    def __init__(self, pid, comm=None):
        self.pid, self.comm = pid, comm

    def start(self):
        self.t0 = time.monotonic()
        self.stat0 = stat_cpu_s(self.pid)
        self.thr0 = threads_cpu_ns(self.pid)
        self.named0 = threads_cpu_ns(self.pid, self.comm) if self.comm else {}
        return self

    def stop(self):
        t1 = time.monotonic()
        stat1 = stat_cpu_s(self.pid)
        thr1 = threads_cpu_ns(self.pid)
        out = {
            "window_s": t1 - self.t0,
            "process_cpu_s_ticks": stat1 - self.stat0,
            "process_cpu_s_ns": sum(v - self.thr0[t] for t, v in thr1.items() if t in self.thr0) / 1e9,
            "threads": len(thr1),
        }
        if self.comm:
            named1 = threads_cpu_ns(self.pid, self.comm)
            common = [t for t in named1 if t in self.named0]
            out["thread_name"] = self.comm
            out["thread_found"] = bool(common)
            out["thread_cpu_s"] = sum(named1[t] - self.named0[t] for t in common) / 1e9 if common else None
        return out


def smaps_rollup(pid):
    """Rss, Pss, Anonymous, Private_Dirty... of the whole process, in KiB."""
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def mapping_rss(pid, needle):
    """Resident KiB of the mappings whose path contains `needle`, by permissions."""
    out = {}
    perms = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if parts and "-" in parts[0] and not parts[0].endswith(":"):
                perms = parts[1] if len(parts) > 5 and needle in parts[5] else None
            elif perms and parts and parts[0] == "Rss:":
                out[perms] = out.get(perms, 0) + int(parts[1])
    return out


def reset_hwm(pid):
    """Resets VmHWM (peak RSS) to the current RSS (needs our own process or root)."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Proc:
    """A child process whose output is collected line by line (bounded)."""

    MAX_LINES = 20000

    def __init__(self, name, argv, env=None, cwd=None, stdin=True, log_path=None):
        self.name = name
        self.argv = argv
        self.lines = collections.deque(maxlen=self.MAX_LINES)
        self.counts = collections.Counter()
        self.watch = []  # substrings whose occurrences are counted
        self.cond = threading.Condition()
        self.log = open(log_path, "w") if log_path else None
        self.p = subprocess.Popen(
            argv, env=env, cwd=cwd,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.pid = self.p.pid
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        for raw in self.p.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if self.log:
                self.log.write(line + "\n")
                self.log.flush()
            with self.cond:
                self.lines.append((time.monotonic(), line))
                for w in self.watch:
                    if w in line:
                        self.counts[w] += 1
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def count(self, what):
        with self.cond:
            return self.counts[what]

    def alive(self):
        return self.p.poll() is None

    def text(self):
        with self.cond:
            return "\n".join(l for _, l in self.lines)

    def wait_for(self, what, timeout, after=0.0):
        """Time of the first line containing `what` seen after `after`."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, l in self.lines:
                    if t >= after and what in l:
                        return t
                if self.p.poll() is not None and not self.thread.is_alive():
                    return None
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.25))

    def wait_count(self, what, n, timeout):
        end = time.monotonic() + timeout
        with self.cond:
            while self.counts[what] < n:
                left = end - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self.thread.is_alive()):
                    return False
                self.cond.wait(min(left, 0.25))
            return True

    def signal(self, sig):
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout=10):
        """SIGTERM (and stdin closed), then SIGKILL after `timeout`."""
        if self.p.poll() is None:
            try:
                if self.p.stdin:
                    self.p.stdin.close()
            except OSError:
                pass
            self.signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.p.wait(5)
        self.thread.join(5)
        if self.log:
            self.log.close()
            self.log = None
        return self.p.returncode


class RssSampler:
    """Samples VmRSS of several processes every `period` seconds."""

    def __init__(self, procs, period=1.0):
        self.procs = procs  # {label: pid}
        self.period = period
        self.samples = {k: [] for k in procs}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            for k, pid in self.procs.items():
                try:
                    self.samples[k].append((t, rss_kib(pid)))
                except (OSError, KeyError):
                    pass
            self._stop.wait(self.period)

    def stop(self):
        self._stop.set()
        self.thread.join(5)
        return self.samples
