"""The hosts the plugin runs in: real Fluent Bit, or the C host that loads it
exactly like Fluent Bit's proxy loader (tests/host/proxy_host.c). Every host
gets its own folder, state_dir and loopback ports."""

import json
import os
import signal
import socket
import time
import urllib.request

from .procs import HarnessError, Proc

CLIENT_THREAD = "opamp-client"  # the plugin's thread name (src/agent/mod.rs)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pad_config(text, size):
    """Pads a classic config with comment lines up to `size` bytes."""
    line = "# padding: keeps the effective config at the size the benchmark asks for\n"
    n = max(0, size - len(text)) // len(line)
    text += line * n
    if len(text) < size:
        text += "#" * (size - len(text) - 1) + "\n"
    return text


def large_pipeline(size):
    """Real-looking filter sections on a tag nothing carries, up to `size` bytes."""
    out = ""
    i = 0
    while len(out) < size - 200:
        out += ("[FILTER]\n    Name   modify\n    Match  bench.never.%d\n"
                "    Add    environment production\n    Add    team platform-%d\n\n") % (i, i)
        i += 1
    return out


class Env:
    """Paths of everything a run uses."""

    def __init__(self, root, results, plugin, null_plugin, proxy_host, fb_bin,
                 node, node_dir, py_client_python, workdir):
        self.root = root
        self.results = results
        self.plugin = plugin
        self.null_plugin = null_plugin
        self.proxy_host = proxy_host
        self.fb_bin = fb_bin
        self.node = node
        self.node_dir = node_dir
        self.py = py_client_python
        self.workdir = workdir
        self.logdir = os.path.join(results, "logs")
        os.makedirs(self.logdir, exist_ok=True)

    @property
    def host_kind(self):
        return "fluent-bit" if self.fb_bin else "c-host"

    def host_label(self):
        if self.fb_bin:
            return "Fluent Bit %s (%s)" % (fb_version(self.fb_bin), self.fb_bin)
        return "C host (tests/host/proxy_host.c; FLUENT_BIT_BIN not set)"


_versions = {}


def fb_version(b):
    if b not in _versions:
        import subprocess
        out = subprocess.run([b, "--version"], capture_output=True, text=True, timeout=20).stdout
        _versions[b] = out.split("\n")[0].replace("Fluent Bit ", "").strip() or "?"
    return _versions[b]


class Host:
    """One host process, with or without the plugin.

    plugin: True loads the real plugin with the [INPUT] opamp section built
    from `opamp` (a dict of properties); False runs the same host without it
    (Fluent Bit: no plugins file and no opamp section; C host: the null plugin);
    "null" loads bench/host/null_plugin.c, a proxy input that does nothing, as
    [INPUT] opamp (what hosting any proxy-ABI input costs).
    """

    def __init__(self, env, name, plugin, opamp=None, pipeline=None, service=None,
                 bootstrap_size=None, extra_files=None, use_c_host=None):
        self.env = env
        self.name = name
        self.plugin = plugin
        self.fb = bool(env.fb_bin) if use_c_host is None else not use_c_host
        self.dir = os.path.join(env.workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.state_dir = os.path.join(self.dir, "state")
        self.http_port = free_port()
        self.opamp = dict(opamp or {})
        self.pipeline = pipeline if pipeline is not None else (
            "[INPUT]\n    Name dummy\n    Tag  bench\n    Rate 1\n\n"
            "[OUTPUT]\n    Name  null\n    Match *\n")
        self.service = service or {}
        self.bootstrap_size = bootstrap_size
        self.extra_files = extra_files or {}
        self.conf = os.path.join(self.dir, "fluent-bit.conf")
        self.proc = None
        self._write()

    def _write(self):
        for rel, text in self.extra_files.items():
            os.makedirs(os.path.dirname(os.path.join(self.dir, rel)), exist_ok=True)
            with open(os.path.join(self.dir, rel), "w") as f:
                f.write(text)
        svc = {
            "Flush": "1",
            "Log_Level": "info",
            "Hot_Reload": "On",
            "HTTP_Server": "On",
            "HTTP_Listen": "127.0.0.1",
            "HTTP_Port": str(self.http_port),
            "Grace": "1",
        }
        svc.update(self.service)
        text = "[SERVICE]\n" + "".join("    %-12s %s\n" % kv for kv in svc.items())
        if self.plugin and self.fb:
            plugins = os.path.join(self.dir, "plugins.conf")
            so = self.env.null_plugin if self.plugin == "null" else self.env.plugin
            with open(plugins, "w") as f:
                f.write("[PLUGINS]\n    Path %s\n" % so)
            text += "    %-12s %s\n" % ("Plugins_File", plugins)
        text += "\n"
        if self.plugin == "null" and self.fb:
            text += "[INPUT]\n    Name opamp\n\n"
        elif self.plugin or not self.fb:
            props = {
                "Name": "opamp",
                "State_Dir": self.state_dir,
                "HTTP_Server": "http://127.0.0.1:%d" % self.http_port,
            }
            props.update(self.opamp)
            text += "[INPUT]\n" + "".join(
                "    %-18s %s\n" % (k, v) for k, v in props.items() if v is not None) + "\n"
        text += self.pipeline
        if self.bootstrap_size:
            text = pad_config(text, self.bootstrap_size)
        with open(self.conf, "w") as f:
            f.write(text)
        self.bootstrap_bytes = len(text.encode())

    # ----- life ------------------------------------------------------------

    def start(self, timeout=20):
        log = os.path.join(self.env.logdir, self.name + ".log")
        if self.fb:
            argv = [self.env.fb_bin, "-c", self.conf]
        else:
            so = self.env.plugin if self.plugin is True else self.env.null_plugin
            argv = [self.env.proxy_host, "--plugin", so, "-c", self.conf,
                    "--scenario", "sighup", "--steady-ms", "0", "--interval-ms", "1000"]
        self.proc = Proc(self.name, argv, cwd=self.dir, log_path=log)
        self.proc.watch.append("host: reload done")
        self.pid = self.proc.pid
        if self.fb:
            if not self._wait_http(timeout):
                raise HarnessError("%s: Fluent Bit did not come up:\n%s" % (self.name, self.proc.text()[-3000:]))
        else:
            if self.proc.wait_for("host: started", timeout) is None:
                raise HarnessError("%s: C host did not start:\n%s" % (self.name, self.proc.text()[-3000:]))
        return self

    def wait_client_thread(self, timeout=15):
        """Waits until the plugin's client thread exists (plugin hosts only)."""
        end = time.monotonic() + timeout
        from .procs import tasks
        while time.monotonic() < end:
            if any(n == CLIENT_THREAD for _, n in tasks(self.pid)):
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc:
            return self.proc.stop(timeout=10)

    def alive(self):
        return self.proc is not None and self.proc.alive()

    # ----- Fluent Bit's HTTP server -----------------------------------------

    def _get(self, path, timeout=2):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path), timeout=timeout) as r:
            return r.read()

    def _wait_http(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.proc.alive():
                return False
            try:
                self._get("/api/v1/uptime", 1)
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def metrics(self):
        return json.loads(self._get("/api/v1/metrics"))

    def output_records(self, name="null.0"):
        return self.metrics()["output"][name]["proc_records"]

    def reload_count(self):
        if self.fb:
            return json.loads(self._get("/api/v2/reload"))["hot_reload_count"]
        return self.proc.count("host: reload done")

    # ----- reloads -----------------------------------------------------------

    def reload(self, timeout=30):
        """SIGHUP and wait until the host finished that reload; returns the
        seconds it took. A SIGHUP dropped because a reload was running is
        sent again (bounded)."""
        before = self.reload_count()
        t0 = time.monotonic()
        end = t0 + timeout
        sent_at = t0
        self.proc.signal(signal.SIGHUP)
        while time.monotonic() < end:
            if not self.proc.alive():
                raise HarnessError("%s died during a reload:\n%s" % (self.name, self.proc.text()[-3000:]))
            try:
                if self.reload_count() > before:
                    return time.monotonic() - t0
            except OSError:
                pass  # the HTTP server restarts with the reload
            if time.monotonic() - sent_at > 5:
                self.proc.signal(signal.SIGHUP)
                sent_at = time.monotonic()
            time.sleep(0.005)
        raise HarnessError("%s: reload %d did not finish in %ds" % (self.name, before + 1, timeout))
