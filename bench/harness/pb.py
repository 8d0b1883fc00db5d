"""Just enough protobuf for the benchmark's OpAMP peers (stdlib only).

Decoding is generic (field number -> list of raw values); the helpers below
name the OpAMP fields the harness looks at. Field numbers come from
proto/opamp.proto.
"""

# AgentToServer
A2S_INSTANCE_UID = 1
A2S_SEQUENCE_NUM = 2
A2S_AGENT_DESCRIPTION = 3
A2S_CAPABILITIES = 4
A2S_HEALTH = 5
A2S_EFFECTIVE_CONFIG = 6
A2S_REMOTE_CONFIG_STATUS = 7
A2S_AGENT_DISCONNECT = 9
A2S_FLAGS = 10
A2S_AVAILABLE_COMPONENTS = 14

# Fields that make a message more than a heartbeat.
STATUS_FIELDS = {
    A2S_AGENT_DESCRIPTION: "agent_description",
    A2S_HEALTH: "health",
    A2S_EFFECTIVE_CONFIG: "effective_config",
    A2S_REMOTE_CONFIG_STATUS: "remote_config_status",
    8: "package_statuses",
    A2S_AGENT_DISCONNECT: "agent_disconnect",
    11: "connection_settings_request",
    12: "custom_capabilities",
    13: "custom_message",
    A2S_AVAILABLE_COMPONENTS: "available_components",
    15: "connection_settings_status",
}

CAP_ACCEPTS_REMOTE_CONFIG = 0x2
CAP_REPORTS_EFFECTIVE_CONFIG = 0x4
CAP_REPORTS_REMOTE_CONFIG = 0x1000

RCS_UNSET, RCS_APPLIED, RCS_APPLYING, RCS_FAILED = 0, 1, 2, 3
RCS_NAMES = {0: "UNSET", 1: "APPLIED", 2: "APPLYING", 3: "FAILED"}

# ServerCapabilities
SCAP_ACCEPTS_STATUS = 0x1
SCAP_OFFERS_REMOTE_CONFIG = 0x2
SCAP_ACCEPTS_EFFECTIVE_CONFIG = 0x4


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(buf, i):
    shift = 0
    n = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def decode(buf):
    """Returns {field_number: [value, ...]}; length-delimited values are bytes."""
    fields = {}
    i = 0
    n = len(buf)
    while i < n:
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 1:
            v = int.from_bytes(buf[i:i + 8], "little")
            i += 8
        elif wt == 2:
            ln, i = read_varint(buf, i)
            if i + ln > n:
                raise ValueError("truncated field")
            v = bytes(buf[i:i + ln])
            i += ln
        elif wt == 5:
            v = int.from_bytes(buf[i:i + 4], "little")
            i += 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        fields.setdefault(num, []).append(v)
    return fields


def field_varint(num, v):
    return varint(num << 3) + varint(v) if v else b""


def field_bytes(num, b):
    return varint(num << 3 | 2) + varint(len(b)) + b


def first(fields, num, default=None):
    v = fields.get(num)
    return v[0] if v else default


# ----- ServerToAgent -------------------------------------------------------

def server_to_agent(instance_uid=b"", capabilities=0, flags=0, remote_config=None):
    """remote_config: (files: {name: (body bytes, content_type)}, hash bytes)."""
    out = b""
    if instance_uid:
        out += field_bytes(1, instance_uid)
    if remote_config is not None:
        files, h = remote_config
        cmap = b""
        for name, (body, ctype) in files.items():
            f = field_bytes(1, body) + (field_bytes(2, ctype.encode()) if ctype else b"")
            entry = field_bytes(1, name.encode()) + field_bytes(2, f)
            cmap += field_bytes(1, entry)
        rc = field_bytes(1, cmap) + field_bytes(2, h)
        out += field_bytes(3, rc)
    out += field_varint(6, flags)
    out += field_varint(7, capabilities)
    return out


# ----- AgentToServer ---------------------------------------------------------

def agent_to_server(instance_uid, sequence_num, capabilities):
    """The smallest message an agent can send: a heartbeat."""
    return (field_bytes(A2S_INSTANCE_UID, instance_uid)
            + field_varint(A2S_SEQUENCE_NUM, sequence_num)
            + field_varint(A2S_CAPABILITIES, capabilities))


def summarize_a2s(body):
    """The facts the harness needs from one AgentToServer."""
    f = decode(body)
    parts = [name for num, name in STATUS_FIELDS.items() if num in f]
    s = {
        "instance_uid": first(f, A2S_INSTANCE_UID, b""),
        "seq": first(f, A2S_SEQUENCE_NUM, 0),
        "caps": first(f, A2S_CAPABILITIES, 0),
        "parts": parts,
        "heartbeat": not parts,
        "part_bytes": {STATUS_FIELDS[n]: len(f[n][0]) for n in STATUS_FIELDS if n in f},
    }
    rcs = first(f, A2S_REMOTE_CONFIG_STATUS)
    if rcs is not None:
        r = decode(rcs)
        s["rcs"] = {
            "hash": first(r, 1, b""),
            "status": first(r, 2, 0),
            "error": first(r, 3, b"").decode("utf-8", "replace"),
        }
    ec = first(f, A2S_EFFECTIVE_CONFIG)
    if ec is not None:
        cmap = first(decode(ec), 1, b"")
        files = {}
        for entry in decode(cmap).get(1, []):
            e = decode(entry)
            name = first(e, 1, b"").decode("utf-8", "replace")
            fb = decode(first(e, 2, b""))
            files[name] = len(first(fb, 1, b""))
        s["effective_config_files"] = files
    return s
