"""What one tool call looks like to a behaviour baseline: named, cheap, explainable features.

Every feature has a name (:data:`FEATURES`) that alerts quote, so "why" is
always answerable: ``destination`` (where data could go: URL hosts, mail
domains), ``resource`` (path-prefix families of everything else), ``arg_shape``
(argument keys, value types and size buckets), and so on. This module does the
*stateless* part — it looks at one call only; the windowed features (rate,
fan-out, transition, streaks, task length) come from :mod:`.window`, which
remembers the agent's recent past.

Strings become stable 32-bit hashes (``zlib.crc32``, not ``hash()``: that one
changes per process, and a restored state must mean the same thing in another
process). Hashes and parsed resources are cached, because gateways repeat the
same tools, hosts and paths all day.

>>> f = extract(ToolCall.model_validate({"event_id": "e", "ts": "2026-03-02T10:00:00Z",
...     "agent_id": "a", "server": "email", "tool": "send_email", "args": {"to": "x@evil.example"},
...     "resources": ["mailto:x@evil.example"], "bytes_out": 120}), 1772445600.0)
>>> f.tool_name, f.destinations, f.hour, f.weekday
('email/send_email', ['mail:evil.example'], 10, 0)
"""

from __future__ import annotations

import zlib
from math import log
from typing import Any, Final

from mypy_extensions import i64

from monitor.events import ToolCall

# a C function mypyc has no primitive for, bound once: a name imported from ``zlib`` is
# looked up in the module's globals dict at each call (compiled), a Final is a C static
_CRC32: Final = zlib.crc32

#: Feature names, in the order of the score vector. Alerts name the ones that drove a score.
FEATURES: Final[tuple[str, ...]] = (
    "tool",
    "server",
    "transition",
    "chain",
    "destination",
    "resource",
    "arg_shape",
    "rate",
    "burst",
    "fanout",
    "bytes_out",
    "bytes_in",
    "hour",
    "weekday",
    "error_streak",
    "task_length",
)
F_TOOL: Final = 0
F_SERVER: Final = 1
F_TRANSITION: Final = 2
F_CHAIN: Final = 3
F_DESTINATION: Final = 4
F_RESOURCE: Final = 5
F_SHAPE: Final = 6
F_RATE: Final = 7
F_BURST: Final = 8
F_FANOUT: Final = 9
F_BYTES_OUT: Final = 10
F_BYTES_IN: Final = 11
F_HOUR: Final = 12
F_WEEKDAY: Final = 13
F_ERRORS: Final = 14
F_TASK: Final = 15
N_FEATURES: Final = 16  # a literal: the compiled model's loops and offsets fold it
if len(FEATURES) != N_FEATURES:
    raise ImportError(
        f"baseline features: N_FEATURES is {N_FEATURES}, FEATURES has {len(FEATURES)}"
    )

#: Schemes whose authority is a network endpoint: a new one is a new place data can go.
NETWORK_SCHEMES: Final = frozenset(
    {"http", "https", "ws", "wss", "ftp", "ftps", "sftp", "ssh", "smtp"}
)
#: Argument keys that name a destination, used when a gateway logs no resources.
DESTINATION_KEYS: Final = (
    "to",
    "cc",
    "bcc",
    "recipient",
    "recipients",
    "url",
    "endpoint",
    "webhook",
    "host",
)
MAX_RESOURCES: Final = (
    4  # per call; a call touching hundreds of resources is judged on the first few
)
_CACHE_MAX: Final = 16_384

_hashes: Final[dict[str, int]] = {}
_parsed: Final[dict[str, tuple[bool, str, int]]] = {}
_tools: Final[dict[tuple[str, str], tuple[str, int, int]]] = {}
_shapes: Final[dict[tuple[str, ...], tuple[str, int]]] = {}
#: per tool name, the key of its last call's shape (as shape_of builds it) and the shape
_last_shape: Final[dict[str, tuple[tuple[str, ...], tuple[str, int]]]] = {}


def h32(s: str) -> int:
    """A stable 32-bit hash of a string (the same in every process)."""
    v = _hashes.get(s)
    if v is None:
        if len(_hashes) >= _CACHE_MAX:
            _hashes.clear()
        v = _hashes[s] = _CRC32(s.encode("utf-8", "surrogatepass"))
    return v


def classify_resource(uri: str) -> tuple[bool, str]:
    """``(is_destination, key)``: a network host or mail domain, or a resource family.

    >>> classify_resource("https://Paste.example:443/raw/x")
    (True, 'net:paste.example:443')
    >>> classify_resource("mailto:Ann@Acme.example")
    (True, 'mail:acme.example')
    >>> classify_resource("file:///repo/billing/src/tax/rates.py")
    (False, 'file:///repo/billing/src')
    >>> classify_resource("crm://acme/customers/4711")
    (False, 'crm://acme/customers')
    """
    is_dest, key, _ = _resource(uri)
    return is_dest, key


def _resource(uri: str) -> tuple[bool, str, int]:
    """:func:`classify_resource` and the key's :func:`h32`, cached by the URI."""
    got = _parsed.get(uri)
    if got is not None:
        return got
    if uri[:7].lower() == "mailto:":
        addr = uri[7:].partition("?")[0]
        key = "mail:" + addr.rpartition("@")[2].lower()[:128]
        is_dest = True
    else:
        i = uri.find("://")
        if i < 0:  # "urn:x:y", "s3:bucket": the first two parts are the family
            key = ":".join(uri.split(":", 2)[:2])[:128]
            is_dest = False
        else:
            scheme = uri[:i].lower()
            j = uri.find("/", i + 3)
            authority = uri[i + 3 :] if j < 0 else uri[i + 3 : j]
            is_dest = scheme in NETWORK_SCHEMES
            if is_dest:
                key = "net:" + authority[authority.rfind("@") + 1 :].lower()[:128]
            else:
                # the directory, at most three levels deep: the path up to its third "/"
                # (or its last, if it has fewer), without splitting all of it
                end = -1
                if j >= 0:
                    for _ in range(3):
                        k = uri.find("/", end + 1 if end >= 0 else j + 1)
                        if k < 0:
                            break
                        end = k
                path = uri[j + 1 : end] if end >= 0 else ""
                key = f"{scheme}://{authority}/{path}"[:160]
    if len(_parsed) >= _CACHE_MAX:
        _parsed.clear()
    got = _parsed[uri] = (is_dest, key, h32(key))
    return got


def _arg_destination(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    if "://" in value:
        ok, key = classify_resource(value)
        return key if ok else None
    if "@" in value:
        return "mail:" + value.rpartition("@")[2].lower()[:128]
    return "net:" + value.lower()[:128]


def _size_code(n: int) -> str:
    """Size bucket of a string or collection: 0, ≤16, ≤128, ≤1024, more."""
    if n == 0:
        return "0"
    if n <= 16:
        return "s"
    if n <= 128:
        return "m"
    if n <= 1024:
        return "l"
    return "x"


_SIZE: Final[tuple[str, ...]] = tuple(_size_code(n) for n in range(1025))
_SCALAR: Final = {bool: "b", int: "n", float: "n", type(None): "z"}


def _type_code(v: Any) -> str:
    tv = type(v)
    if tv is str or tv is list or tv is dict:
        n = len(v)
        return ("s" if tv is str else "a" if tv is list else "o") + (_SIZE[n] if n <= 1024 else "x")
    code = _SCALAR.get(tv)
    if code is not None:
        return code
    if isinstance(v, str):
        return "s" + _size_code(len(v))
    if isinstance(v, bool):
        return "b"
    if isinstance(v, int | float):
        return "n"
    if isinstance(v, list | tuple):
        return "a" + _size_code(len(v))
    if isinstance(v, dict):
        return "o" + _size_code(len(v))
    return "z"


# the code of a str / list / dict of each size up to 1024 (larger: "x"), ready-made
_STR_CODE: Final[tuple[str, ...]] = tuple("s" + c for c in _SIZE)
_LIST_CODE: Final[tuple[str, ...]] = tuple("a" + c for c in _SIZE)
_DICT_CODE: Final[tuple[str, ...]] = tuple("o" + c for c in _SIZE)


def arg_shape(tool_name: str, args: dict[str, Any]) -> str:
    """The argument *shape*: keys, value types and size buckets, never the values.

    >>> arg_shape("fs/read_file", {"path": "src/a.py", "limit": 20})
    'fs/read_file|limit:n|path:ss'
    """
    if not args:
        return tool_name
    keys = sorted(args) if len(args) > 1 else list(args)
    # off the hot path: built once per new shape (shape_of's cache misses)
    return "|".join([tool_name, *(k + ":" + _type_code(args[k]) for k in keys[:32])])


def _code(v: Any) -> str:
    """:func:`_type_code`, without its look-ups for the common exact types."""
    tv = type(v)
    if tv is str:
        n = len(v)
        return _STR_CODE[n] if n <= 1024 else "sx"
    if tv is int or tv is float:
        return "n"
    if tv is list:
        n = len(v)
        return _LIST_CODE[n] if n <= 1024 else "ax"
    if tv is dict:
        n = len(v)
        return _DICT_CODE[n] if n <= 1024 else "ox"
    return _type_code(v)


def shape_of(tool_name: str, args: dict[str, Any]) -> tuple[str, int]:
    """:func:`arg_shape` and its hash, cached by the keys and value codes in the order the
    call has them: a call repeating a known shape builds a small tuple and looks it up,
    instead of sorting its keys, building the shape string and hashing it anew. A call
    repeating its tool's last shape (most do) is compared with it in place and builds
    nothing.

    >>> shape_of("fs/read_file", {"path": "src/a.py", "limit": 20})[0]
    'fs/read_file|limit:n|path:ss'
    """
    last = _last_shape.get(tool_name)
    if last is not None:
        lkey = last[0]
        if len(lkey) == 2 * len(args) + 1:
            j = 1
            for k, v in args.items():
                if lkey[j] != k or lkey[j + 1] != _code(v):
                    break
                j += 2
            if j == len(lkey):
                return last[1]
    key = [tool_name]
    for k, v in args.items():
        key.append(k)
        key.append(_code(v))
    tkey = tuple(key)
    got = _shapes.get(tkey)
    if got is None:
        if len(_shapes) >= _CACHE_MAX:
            _shapes.clear()
        shape = arg_shape(tool_name, args)
        got = _shapes[tkey] = (shape, h32(shape))
    if len(_last_shape) >= _CACHE_MAX:
        _last_shape.clear()
    _last_shape[tool_name] = (tkey, got)
    return got


class CallFeatures:
    """One call's features. Hashes for the model, names and raw values for explanations.

    The window fields (``transition``, ``rate``, ``burst``, ``fanout``, ``error_streak``,
    ``task_length``) are filled by
    :meth:`monitor.core.baseline.window.Window.observe`.
    """

    __slots__ = (
        "burst",
        "bytes_in",
        "bytes_out",
        "destination_hashes",
        "destinations",
        "error_streak",
        "failed",
        "fanout",
        "hour",
        "outcome",
        "prev_hash",
        "prev_tool",
        "rate",
        "resource_hashes",
        "resources",
        "server",
        "server_name",
        "shape",
        "shape_name",
        "task_length",
        "tool",
        "tool_name",
        "transition",
        "weekday",
    )

    def __init__(
        self,
        destinations: list[str],
        destination_hashes: list[int],
        resources: list[str],
        resource_hashes: list[int],
    ) -> None:
        # the lists come from :func:`extract`: no throwaway empty lists per call (every
        # container allocated counts towards the garbage collector's next pass)
        # the model indexes its tables by these: machine integers when compiled (no tagged
        # int checks, no boxing on every read)
        self.tool: i64 = 0
        self.server: i64 = 0
        self.shape: i64 = 0
        self.tool_name = self.server_name = self.shape_name = ""
        self.destinations = destinations
        self.destination_hashes = destination_hashes
        self.resources = resources
        self.resource_hashes = resource_hashes
        self.bytes_out = self.bytes_in = 0.0
        self.outcome = "unknown"
        self.failed = False
        self.hour: i64 = 0
        self.weekday: i64 = 0
        self.transition: i64 = -1  # -1: no previous call to transition from
        self.prev_hash: i64 = 0
        self.prev_tool = ""
        self.rate: i64 = 0
        self.burst: i64 = 0
        self.fanout: i64 = 0
        self.error_streak: i64 = 0
        self.task_length: i64 = 0


def extract(call: ToolCall, t: float) -> CallFeatures:
    """The stateless features of one call at event time ``t`` (epoch seconds, UTC)."""
    return extract_fields(call.__dict__, t)


def extract_fields(call: dict[str, Any], t: float) -> CallFeatures:
    """:func:`extract` from the call's validated field values (``ToolCall.__dict__``).

    Each attribute of a pydantic model is a generic look-up through its class (about
    340 instructions, compiled); its field values are one dict, read once here.
    """
    server: str = call["server"]
    tool: str = call["tool"]
    ident = _tools.get((server, tool))
    if ident is None:
        if len(_tools) >= _CACHE_MAX:
            _tools.clear()
        name = f"{server}/{tool}"
        ident = _tools[(server, tool)] = (name, h32(name), h32(server))
    name = ident[0]
    dests: list[str] = []
    res: list[str] = []
    dest_h: list[int] = []
    res_h: list[int] = []
    resources: list[str] = call["resources"]
    args: dict[str, Any] = call["args"]
    if resources:
        for i in range(min(len(resources), MAX_RESOURCES)):
            is_dest, key, h = _resource(resources[i])
            if is_dest:
                if key not in dests:
                    dests.append(key)
                    dest_h.append(h)
            elif key not in res:
                res.append(key)
                res_h.append(h)
    elif args:
        for k in DESTINATION_KEYS:
            v = args.get(k)
            if v is None:  # the common case; _arg_destination(None) is None
                continue
            for item in v[:MAX_RESOURCES] if isinstance(v, list) else (v,):
                dest = _arg_destination(item)
                if dest is not None and dest not in dests:
                    dests.append(dest)
                    dest_h.append(h32(dest))
    f = CallFeatures(dests, dest_h, res, res_h)
    f.server_name = server
    f.tool_name, f.tool, f.server = ident
    if args:
        f.shape_name, f.shape = shape_of(name, args)
    else:
        f.shape_name = name  # arg_shape of no arguments
        f.shape = ident[1]  # … whose hash is the tool's
    # log1p of a byte count, as log(n + 1.0): exact for a count (n + 1.0 is, below 2**53) and
    # a C call when compiled, where math.log1p is a Python call (~360 instructions)
    n: int = call["bytes_out"]
    f.bytes_out = log(float(n) + 1.0) if n else 0.0  # no call for the common case, 0
    n = call["bytes_in"]
    f.bytes_in = log(float(n) + 1.0) if n else 0.0
    f.outcome = outcome = call["outcome"]
    f.failed = outcome == "error" or outcome == "denied"
    it = int(t)  # // and % of ints, as divmod does: native arithmetic when compiled
    day, sec = it // 86_400, it % 86_400
    f.hour = sec // 3600
    f.weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    return f
