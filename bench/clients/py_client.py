"""A separate-process OpAMP agent built on PyPI opentelemetry-opamp-client,
doing the plugin's job: connect, describe itself, report an effective config,
heartbeat.

Usage: python py_client.py <endpoint> <heartbeat seconds> <effective config file>
Prints READY once started. Ends on SIGTERM, when stdin closes, or after
BENCH_MAX_LIFE_S seconds.
"""

import os
import signal
import socket
import sys
import threading

from opentelemetry._opamp.agent import OpAMPAgent
from opentelemetry._opamp.callbacks import OpAMPCallbacks
from opentelemetry._opamp.client import OpAMPClient


def main():
    endpoint, hb, conf = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    client = OpAMPClient(
        endpoint=endpoint,
        agent_identifying_attributes={
            "service.name": "bench-python-client",
            "service.instance.id": "python-%d" % os.getpid(),
        },
        agent_non_identifying_attributes={
            "process.pid": str(os.getpid()),
            "os.type": "linux",
            "host.name": socket.gethostname(),
        },
    )
    with open(conf) as f:
        client.update_effective_config({os.path.basename(conf): f.read()}, "text/x-fluent-bit")
    agent = OpAMPAgent(interval=hb, callbacks=OpAMPCallbacks(), client=client)
    agent.start()
    print("READY", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait(float(os.environ.get("BENCH_MAX_LIFE_S", "3600")))
    agent.stop(timeout=2)


if __name__ == "__main__":
    main()
