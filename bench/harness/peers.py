"""Loopback OpAMP peers the harness controls, so it can count the wire.

* OpampServer: one port that speaks OpAMP over WebSocket (RFC 6455, written
  here on the stdlib) and plain HTTP POST, answers every AgentToServer with
  a small ServerToAgent, can offer remote configs, and records every message
  with its size on the wire, as payload and as protobuf.
* CountingProxy: sits in front of another HTTP OpAMP server (the
  @elastic/mockopampserver) and records each request the same way.

Both run on their own asyncio loop in a daemon thread, listen on 127.0.0.1
only, keep a bounded record, and cap message sizes.
"""

import asyncio
import base64
import collections
import gzip
import hashlib
import threading
import time

from . import pb

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 80 << 20  # covers the 16 MiB config scale test
MAX_RECORDS = 20000
MAX_CONNECTIONS = 64


class _Loop:
    """An asyncio loop on a daemon thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Recorder:
    """Thread-safe bounded log of received messages, with waiting."""

    def __init__(self):
        self.records = collections.deque(maxlen=MAX_RECORDS)
        self.cond = threading.Condition()
        self.total = {"messages": 0, "wire_in": 0, "wire_out": 0, "requests": 0}
        self.connections = 0

    def add(self, rec):
        with self.cond:
            self.records.append(rec)
            self.total["messages"] += 1
            self.total["wire_in"] += rec["wire"]
            self.cond.notify_all()

    def add_out(self, n):
        with self.cond:
            self.total["wire_out"] += n

    def snapshot(self):
        with self.cond:
            return list(self.records), dict(self.total)

    def wait_for(self, pred, timeout, since=0):
        """First record with index >= since matching pred, or None."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                recs = list(self.records)
                for r in recs:
                    if r["index"] >= since and pred(r):
                        return r
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.5))

    def next_index(self):
        with self.cond:
            return self.total["messages"]


def _summary(body):
    try:
        return pb.summarize_a2s(body)
    except Exception as e:  # a peer we do not understand is a finding, not a crash
        return {"error": str(e), "parts": [], "heartbeat": False, "caps": 0, "seq": -1,
                "part_bytes": {}, "instance_uid": b""}


async def _read_http_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > 65536:
        raise ValueError("header too large")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return head, lines[0], headers


class OpampServer:
    """WebSocket + HTTP OpAMP server on one loopback port."""

    def __init__(self, name, respond=True):
        self.name = name
        self.respond = respond
        self.rec = Recorder()
        self._loop = _Loop()
        self._ws_writers = set()
        self._ws_offered = {}  # writer -> hash of the offer it was sent
        self._offer = None  # (files, hash)
        self._offer_sent = {}  # hash -> monotonic time the offer left
        self._conn_seq = 0
        self.port = self._loop.call(self._start())

    async def _start(self):
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=1 << 20)
        return self._server.sockets[0].getsockname()[1]

    @property
    def ws_url(self):
        return "ws://127.0.0.1:%d/v1/opamp" % self.port

    @property
    def http_url(self):
        return "http://127.0.0.1:%d/v1/opamp" % self.port

    def stop(self):
        async def close():
            self._server.close()
            for w in list(self._ws_writers):
                w.close()
        try:
            self._loop.call(close(), 5)
        except Exception:
            pass
        self._loop.stop()

    # ----- offers -----------------------------------------------------------

    def offer(self, files, config_hash=None):
        """Offers a remote config {name: (body, content_type)}; returns its hash.
        WebSocket peers get it at once, HTTP peers in their next response."""
        if config_hash is None:
            h = hashlib.sha256()
            for k in sorted(files):
                h.update(k.encode() + b"\0" + files[k][0] + b"\0")
            config_hash = h.digest()
        self._loop.call(self._set_offer(files, config_hash))
        return config_hash

    async def _set_offer(self, files, config_hash):
        self._offer = (files, config_hash)
        for w in list(self._ws_writers):
            self._ws_offered[w] = config_hash
            await self._ws_send(w, self._response(b"", offer=True), config_hash)

    @property
    def connections_seen(self):
        return self._conn_seq

    def offer_sent_at(self, config_hash):
        return self._offer_sent.get(config_hash)

    def _response(self, uid, offer=False):
        caps = pb.SCAP_ACCEPTS_STATUS | pb.SCAP_OFFERS_REMOTE_CONFIG | pb.SCAP_ACCEPTS_EFFECTIVE_CONFIG
        rc = self._offer if (offer and self._offer) else None
        return pb.server_to_agent(uid, caps, 0, rc)

    # ----- connections ------------------------------------------------------

    async def _handle(self, reader, writer):
        if self.rec.connections >= MAX_CONNECTIONS:
            writer.close()
            return
        self.rec.connections += 1
        self._conn_seq += 1
        conn = self._conn_seq
        try:
            head, request_line, headers = await _read_http_head(reader)
            if headers.get("upgrade", "").lower() == "websocket":
                await self._websocket(conn, reader, writer, head, headers)
            else:
                await self._http(conn, reader, writer, head, request_line, headers)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            self.rec.connections -= 1
            self._ws_writers.discard(writer)
            self._ws_offered.pop(writer, None)
            try:
                writer.close()
            except Exception:
                pass

    async def _http(self, conn, reader, writer, head, request_line, headers):
        first = True
        while True:
            if not first:
                head, request_line, headers = await _read_http_head(reader)
            first = False
            n = int(headers.get("content-length", "0"))
            if n > MAX_MESSAGE:
                raise ValueError("too large")
            body = await reader.readexactly(n) if n else b""
            t = time.monotonic()
            gz = headers.get("content-encoding", "").lower() == "gzip"
            proto = gzip.decompress(body) if gz else body
            s = _summary(proto)
            pending = self._offer is not None and not (
                s.get("rcs") and s["rcs"]["hash"] == self._offer[1])
            resp = self._response(s.get("instance_uid", b""), offer=pending) if self.respond else b""
            out = (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(resp)) + resp
            writer.write(out)
            await writer.drain()
            if pending:
                self._offer_sent.setdefault(self._offer[1], time.monotonic())
            self.rec.add_out(len(out))
            self.rec.add({
                "index": self.rec.next_index(), "t": t, "conn": conn, "transport": "http",
                "wire": len(head) + n, "headers": len(head), "payload": n,
                "proto": len(proto), "gzip": gz, "resp_wire": len(out), **s,
            })
            if headers.get("connection", "").lower() == "close":
                return

    async def _websocket(self, conn, reader, writer, head, headers):
        key = headers.get("sec-websocket-key", "").encode()
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        await writer.drain()
        self._ws_writers.add(writer)
        handshake_in = len(head)
        while True:
            opcode, payload, wire = await self._ws_read_message(reader, writer)
            if opcode is None:
                return
            if opcode != 2:
                continue
            t = time.monotonic()
            # OpAMP header: varint 0, then the protobuf.
            hdr, i = pb.read_varint(payload, 0)
            proto = payload[i:]
            s = _summary(proto)
            self.rec.add({
                "index": self.rec.next_index(), "t": t, "conn": conn, "transport": "ws",
                "wire": wire, "payload": len(payload), "proto": len(proto), "opamp_header": hdr,
                "handshake": handshake_in, **s,
            })
            handshake_in = 0
            if self.respond:
                offer = self._offer is not None and self._ws_offered.get(writer) != self._offer[1] \
                    and not (s.get("rcs") and s["rcs"]["hash"] == self._offer[1])
                if offer:
                    self._ws_offered[writer] = self._offer[1]
                await self._ws_send(writer, self._response(s.get("instance_uid", b""), offer=offer),
                                    self._offer[1] if offer else None)

    async def _ws_send(self, writer, proto, offer_hash=None):
        payload = b"\x00" + proto
        n = len(payload)
        if n < 126:
            hdr = bytes([0x82, n])
        elif n < 65536:
            hdr = bytes([0x82, 126]) + n.to_bytes(2, "big")
        else:
            hdr = bytes([0x82, 127]) + n.to_bytes(8, "big")
        writer.write(hdr + payload)
        await writer.drain()
        if offer_hash is not None:
            self._offer_sent.setdefault(offer_hash, time.monotonic())
        self.rec.add_out(len(hdr) + n)

    async def _ws_read_message(self, reader, writer):
        """One whole message: (opcode, payload, bytes on the wire)."""
        data = bytearray()
        opcode = None
        wire = 0
        while True:
            h = await reader.readexactly(2)
            fin, op = h[0] & 0x80, h[0] & 0x0F
            masked, ln = h[1] & 0x80, h[1] & 0x7F
            wire += 2
            if ln == 126:
                ln = int.from_bytes(await reader.readexactly(2), "big")
                wire += 2
            elif ln == 127:
                ln = int.from_bytes(await reader.readexactly(8), "big")
                wire += 8
            if ln > MAX_MESSAGE:
                raise ValueError("frame too large")
            mask = await reader.readexactly(4) if masked else b""
            wire += len(mask)
            body = await reader.readexactly(ln)
            wire += ln
            if mask:
                body = bytes(b ^ mask[i % 4] for i, b in enumerate(body)) if ln < 4096 else _unmask(body, mask)
            if op == 8:
                try:
                    writer.write(b"\x88\x00")
                    await writer.drain()
                except ConnectionError:
                    pass
                return None, b"", wire
            if op == 9:
                writer.write(bytes([0x8A, len(body)]) + body)
                await writer.drain()
                continue
            if op == 10:
                continue
            if op != 0:
                opcode = op
            data += body
            if fin:
                return opcode, bytes(data), wire


def _unmask(body, mask):
    n = len(body)
    m = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(body, "big") ^ m).to_bytes(n, "big")


class CountingProxy:
    """Forwards HTTP/1.1 OpAMP requests to 127.0.0.1:upstream_port and records
    each request's size on the wire and what it carried."""

    def __init__(self, name, upstream_port):
        self.name = name
        self.upstream = upstream_port
        self.rec = Recorder()
        self._loop = _Loop()
        self._conn_seq = 0
        self.port = self._loop.call(self._start())

    async def _start(self):
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=1 << 20)
        return self._server.sockets[0].getsockname()[1]

    def url(self, path="/v1/opamp"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def stop(self):
        async def close():
            self._server.close()
        try:
            self._loop.call(close(), 5)
        except Exception:
            pass
        self._loop.stop()

    async def _handle(self, reader, writer):
        if self.rec.connections >= MAX_CONNECTIONS:
            writer.close()
            return
        self.rec.connections += 1
        self._conn_seq += 1
        conn = self._conn_seq
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream, limit=1 << 20)
        except OSError:
            writer.close()
            self.rec.connections -= 1
            return

        async def down():
            try:
                while True:
                    chunk = await ur.read(65536)
                    if not chunk:
                        break
                    self.rec.add_out(len(chunk))
                    writer.write(chunk)
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                try:
                    writer.close()
                except Exception:
                    pass

        task = asyncio.ensure_future(down())
        try:
            while True:
                head, _line, headers = await _read_http_head(reader)
                n = int(headers.get("content-length", "0"))
                if n > MAX_MESSAGE:
                    break
                body = await reader.readexactly(n) if n else b""
                t = time.monotonic()
                uw.write(head + body)
                await uw.drain()
                gz = headers.get("content-encoding", "").lower() == "gzip"
                try:
                    proto = gzip.decompress(body) if gz else body
                except OSError:
                    proto = b""
                self.rec.add({
                    "index": self.rec.next_index(), "t": t, "conn": conn, "transport": "http",
                    "wire": len(head) + n, "headers": len(head), "payload": n,
                    "proto": len(proto), "gzip": gz, **_summary(proto),
                })
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            self.rec.connections -= 1
            try:
                uw.close()
            except Exception:
                pass
            task.cancel()
