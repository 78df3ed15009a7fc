"""The key-value service replies as redis-server does: random command sequences over the
supported set (strings, hashes, expiry, keyspace; the same keys hold strings and hashes in
turn, so every command meets the other type too; transactions: MULTI, EXEC, DISCARD, WATCH,
UNWATCH, the connection commands and RESET mixed in) run on a 3-node senate cluster and on Debian's
redis-server, and every reply is compared byte for byte after parsing (a simple string
stays apart from a bulk one), but for what depends on the moment or on the hash order:
remaining times (TTL, PTTL, EXPIRETIME, PEXPIRETIME and RANDOMKEY are compared by kind),
TIME (by shape), the keys of KEYS and SCAN (as sets), HRANDFIELD's picks (by count). Hashes
stay small (values of at most 64 bytes, a few fields), so redis-server keeps them as listpacks,
whose order senate follows (docs/kv-service.md).

Each example pipelines its commands on one connection to each server (a random node of the
cluster), so an example costs the cluster a few log rounds; at the end the whole keyspace
is compared, and a SCAN walk with COUNT 1 must meet every key.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster import free_base_port
from redis_server import RedisServer
from senate._core import encode_command
from senate.launcher import LocalCluster

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server not installed; .ci/run installs it"
)

#: Examples per property: each is one pipelined sequence on both servers.
EXAMPLES = int(__import__("os").environ.get("COMPAT_EXAMPLES", "40"))
#: How long a reply may take (a 3-node cluster on a busy machine, fsync on).
REPLY_TIMEOUT_S = 30.0

Reply = Any


class Connection:
    """One connection that sends a pipeline and parses the replies (RESP2, and RESP3's null
    and map after HELLO 3: the types the supported commands answer)."""

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=REPLY_TIMEOUT_S)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def pipeline(self, commands: list[list[bytes]]) -> list[Reply]:
        self.sock.sendall(b"".join(encode_command(c) for c in commands))
        return [self._reply() for _ in commands]

    def call(self, *args: bytes) -> Reply:
        return self.pipeline([list(args)])[0]

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def _reply(self) -> Reply:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return (kind, rest)
        if kind == b":":
            return (kind, int(rest))
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return (kind, None)
            while len(self.buf) < n + 2:
                self._more()
            data, self.buf = self.buf[:n], self.buf[n + 2 :]
            return (kind, data)
        if kind == b"*":
            n = int(rest)
            return (kind, None if n < 0 else [self._reply() for _ in range(n)])
        if kind == b"_":
            return (kind, None)
        if kind == b"%":
            return (kind, [self._reply() for _ in range(2 * int(rest))])
        raise AssertionError(f"not a reply of the supported commands: {line!r}")


# --- the commands ---------------------------------------------------------------------------

KEYS = [b"k1", b"k2", b"k3", b"n1"]
key = st.sampled_from(KEYS)
small_int = st.integers(-3, 12).map(lambda n: str(n).encode())
value = st.one_of(
    st.sampled_from(
        [b"", b"v", b"hello", b"10", b"-7", b"3.5", b"1e3", b"0.1", b"abc def", b"inf"]
    ),
    small_int,
)
#: Deadlines: far in the future (stable for the test's life) or long past.
future_s = st.sampled_from([b"4102444800", b"4102444801", b"4133980800"])
future_ms = future_s.map(lambda s: s + b"000")
past = st.sampled_from([b"1", b"1000", b"-5", b"0"])
#: Relative deadlines (EX, PX, SETEX, EXPIRE...): long enough in milliseconds too (PX 1000
#: would end within the test on a busy machine, at different moments on the two servers), or
#: none at all (zero, negative: refused or deleting at once, alike on both).
seconds = st.one_of(
    st.sampled_from([b"100000", b"200000", b"10000000"]),
    st.sampled_from([b"-5", b"0"]),
    st.sampled_from([b"x", b"9223372036854775807"]),
)
junk = st.sampled_from(
    [b"NX", b"XX", b"GT", b"LT", b"GET", b"KEEPTTL", b"PERSIST", b"BOGUS", b"EX"]
)
floats = st.one_of(
    st.sampled_from(
        [
            b"0.1",
            b"-0.1",
            b"1.5",
            b"3",
            b"-2",
            b"1e3",
            b"5.0e2",
            b"0",
            b"-0",
            b"abc",
            b"1e400",
            b" 1",
        ]
    ),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: repr(f).encode()),
)


def cmd(*parts: Any) -> st.SearchStrategy[list[bytes]]:
    """A command of fixed words (bytes) and strategies."""
    return st.tuples(*(p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts)).map(
        list
    )


def with_options(
    base: st.SearchStrategy[list[bytes]], options: st.SearchStrategy[list[bytes]]
) -> Any:
    return st.tuples(base, st.lists(options, max_size=3)).map(
        lambda t: t[0] + [w for o in t[1] for w in o]
    )


# SET with a deadline already past: redis-server 7.0 keeps the key until it is next
# touched and counts it in DBSIZE meanwhile; senate counts live keys only. Not generated.
set_option = st.one_of(
    st.sampled_from([[b"NX"], [b"XX"], [b"GET"], [b"KEEPTTL"]]),
    st.tuples(st.sampled_from([b"EX", b"PX"]), seconds).map(list),
    st.tuples(st.just(b"EXAT"), future_s).map(list),
    st.tuples(st.just(b"PXAT"), future_ms).map(list),
)
expire_option = st.sampled_from([[b"NX"], [b"XX"], [b"GT"], [b"LT"], [b"nx"], [b"BOGUS"]])
getex_option = st.one_of(
    st.sampled_from([[b"PERSIST"], [b"BOGUS"]]),
    st.tuples(st.sampled_from([b"EX", b"PX"]), seconds).map(list),
    st.tuples(st.just(b"EXAT"), st.one_of(future_s, past)).map(list),
)
scan_option = st.one_of(
    st.tuples(st.just(b"MATCH"), st.sampled_from([b"k*", b"*1", b"n?", b"[kn]2", b"*"])).map(list),
    st.tuples(st.just(b"TYPE"), st.sampled_from([b"string", b"hash", b"list", b"STRING"])).map(
        list
    ),
    st.just([b"COUNT", b"1000"]),
    st.just([b"COUNT", b"0"]),
)
field = st.sampled_from([b"f1", b"f2", b"f3", b"g"])
fields = st.lists(field, min_size=1, max_size=3)
field_values = st.lists(st.tuples(field, value), min_size=1, max_size=3).map(
    lambda fvs: [w for fv in fvs for w in fv]
)
#: Increments whose sums stay short (a value over 64 bytes would make redis-server convert the
#: hash to a hash table, whose order is its own).
hash_floats = floats.filter(lambda f: f != b"1e400")
hscan_option = st.one_of(
    st.tuples(st.just(b"MATCH"), st.sampled_from([b"f*", b"*1", b"[fg]?", b"*"])).map(list),
    st.sampled_from([[b"COUNT", b"1"], [b"COUNT", b"0"], [b"TYPE", b"hash"], [b"NOVALUES"]]),
)
hrandfield_args: st.SearchStrategy[list[bytes]] = st.one_of(
    st.just([]),
    st.tuples(st.sampled_from([b"0", b"1", b"2", b"5", b"-1", b"-5", b"x"])).map(list),
    st.tuples(st.sampled_from([b"2", b"-3", b"9"]), st.sampled_from([b"WITHVALUES", b"BAD"])).map(
        list
    ),
)
lcs_option = st.sampled_from(
    [[b"LEN"], [b"IDX"], [b"WITHMATCHLEN"], [b"MINMATCHLEN", b"2"], [b"BAD"]]
)

command = st.one_of(
    with_options(cmd(b"SET", key, value), set_option),
    cmd(b"GET", key),
    st.lists(key, min_size=1, max_size=3).map(lambda ks: [b"DEL", *ks]),
    st.lists(key, min_size=1, max_size=3).map(lambda ks: [b"UNLINK", *ks]),
    st.lists(key, min_size=1, max_size=3).map(lambda ks: [b"EXISTS", *ks]),
    st.lists(key, min_size=1, max_size=3).map(lambda ks: [b"TOUCH", *ks]),
    cmd(st.sampled_from([b"INCR", b"DECR"]), key),
    cmd(st.sampled_from([b"INCRBY", b"DECRBY"]), key, small_int),
    cmd(b"INCRBYFLOAT", key, floats),
    cmd(b"APPEND", key, value),
    cmd(b"STRLEN", key),
    cmd(b"GETSET", key, value),
    cmd(b"GETDEL", key),
    with_options(cmd(b"GETEX", key), getex_option),
    cmd(b"GETRANGE", key, small_int, small_int),
    cmd(b"SETRANGE", key, small_int, value),
    cmd(b"SETNX", key, value),
    cmd(st.sampled_from([b"SETEX", b"PSETEX"]), key, seconds, value),
    st.lists(st.tuples(key, value), min_size=1, max_size=3).map(
        lambda kvs: [b"MSET", *[w for kv in kvs for w in kv]]
    ),
    st.lists(st.tuples(key, value), min_size=1, max_size=3).map(
        lambda kvs: [b"MSETNX", *[w for kv in kvs for w in kv]]
    ),
    st.lists(key, min_size=1, max_size=3).map(lambda ks: [b"MGET", *ks]),
    cmd(
        st.sampled_from([b"TTL", b"PTTL", b"EXPIRETIME", b"PEXPIRETIME", b"TYPE", b"PERSIST"]), key
    ),
    with_options(cmd(st.sampled_from([b"EXPIRE", b"PEXPIRE"]), key, seconds), expire_option),
    with_options(cmd(b"EXPIREAT", key, st.one_of(future_s, past)), expire_option),
    with_options(cmd(b"PEXPIREAT", key, st.one_of(future_ms, past)), expire_option),
    cmd(st.sampled_from([b"RENAME", b"RENAMENX"]), key, key),
    with_options(cmd(b"COPY", key, key), st.sampled_from([[b"REPLACE"], [b"DB", b"0"], [b"X"]])),
    with_options(cmd(b"LCS", key, key), lcs_option),
    with_options(cmd(b"SCAN", st.just(b"0")), scan_option),
    cmd(b"KEYS", st.sampled_from([b"*", b"k*", b"?1"])),
    cmd(b"DBSIZE"),
    cmd(b"RANDOMKEY"),
    cmd(b"TIME"),
    cmd(b"SUBSTR", key, small_int, small_int),
    # Hashes.
    st.tuples(st.sampled_from([b"HSET", b"HMSET"]), key, field_values).map(
        lambda t: [t[0], t[1], *t[2]]
    ),
    cmd(b"HSETNX", key, field, value),
    cmd(st.sampled_from([b"HGET", b"HEXISTS", b"HSTRLEN"]), key, field),
    st.tuples(st.sampled_from([b"HMGET", b"HDEL"]), key, fields).map(lambda t: [t[0], t[1], *t[2]]),
    cmd(st.sampled_from([b"HGETALL", b"HKEYS", b"HVALS", b"HLEN"]), key),
    cmd(b"HINCRBY", key, field, st.one_of(small_int, st.just(b"x"))),
    cmd(b"HINCRBYFLOAT", key, field, hash_floats),
    with_options(cmd(b"HSCAN", key, st.sampled_from([b"0", b"0", b"x"])), hscan_option),
    st.tuples(key, hrandfield_args).map(lambda t: [b"HRANDFIELD", t[0], *t[1]]),
    # Malformed: wrong arities and stray options.
    cmd(
        st.sampled_from(
            [b"TTL", b"EXPIRE", b"RENAME", b"SETEX", b"GETRANGE", b"COPY", b"MSETNX", b"HGET"]
        ),
        key,
    ),
    cmd(st.sampled_from([b"HSET", b"HMSET", b"HINCRBY"]), key, field),
    with_options(cmd(b"SET", key, value), st.tuples(junk).map(list)),
)


#: Connection commands whose replies do not depend on the server (not CLIENT ID, SELECT 1:
#: senate has one database; HELLO's facts are compared by field name, INFO's by its heading),
#: queued inside a transaction and run at EXEC as Redis does, in its array: their effects (a
#: name, RESP3 after HELLO 3) show in the replies after them.
connection_command = st.one_of(
    st.sampled_from(
        [
            [b"SELECT", b"0"],
            [b"SELECT", b"x"],
            [b"SELECT", b"16"],
            [b"CLIENT", b"GETNAME"],
            [b"CLIENT", b"SETNAME", b""],
            [b"CLIENT", b"SETNAME", b"a b"],
            [b"CLIENT", b"SETNAME"],
            [b"CLIENT", b"FOO"],
            [b"CLIENT", b"REPLY", b"ON"],
            [b"ECHO", b"hi"],
            [b"PING", b"hi"],
            [b"CONFIG", b"GET", b"maxmemory"],
            [b"CONFIG", b"GET"],
            [b"CONFIG", b"FOO"],
            [b"COMMAND", b"GETKEYS", b"SET", b"k1", b"v"],
            [b"COMMAND", b"GETKEYSANDFLAGS", b"SET", b"k1", b"v", b"GET"],
            [b"COMMAND", b"GETKEYS", b"PING"],
            [b"COMMAND", b"FOO"],
            [b"ACL", b"WHOAMI"],
            [b"AUTH", b"x"],
            [b"RESET"],
            [b"RESET", b"x"],
            [b"HELLO", b"3"],
            [b"HELLO", b"2"],
            [b"HELLO"],
            [b"HELLO", b"4"],
            [b"HELLO", b"3", b"SETNAME", b"n3"],
            [b"INFO", b"server"],
        ]
    ),
    st.sampled_from([b"n1", b"n2"]).map(lambda name: [b"CLIENT", b"SETNAME", name]),
)

#: MULTI, EXEC, DISCARD, WATCH, UNWATCH, in and out of place (a sequence may end inside a
#: transaction: the test sends a DISCARD last), commands that are wrong inside one, and
#: connection commands with RESET.
transaction_word = st.one_of(
    st.sampled_from(
        [[b"MULTI"], [b"EXEC"], [b"DISCARD"], [b"UNWATCH"], [b"PING"], [b"EXEC", b"x"], [b"FOO"]]
    ),
    st.lists(key, min_size=1, max_size=2).map(lambda ks: [b"WATCH", *ks]),
    connection_command,
)
#: One command in four is a transaction word.
command_or_transaction = st.one_of(command, command, command, transaction_word)


def normalized_all(commands: list[list[bytes]], replies: list[Reply]) -> list[Reply]:
    """`normalized` for each reply, and for each reply inside an EXEC's array by the command
    queued at its place."""
    out, queued, in_multi = [], [], False
    for args, reply in zip(commands, replies, strict=True):
        name = args[0].upper()
        if in_multi and reply == (b"+", b"QUEUED"):
            queued.append(args)
            out.append(reply)
            continue
        if name == b"MULTI" and reply == (b"+", b"OK"):
            in_multi, queued = True, []
        elif name == b"RESET" and reply == (b"+", b"RESET"):
            in_multi = False
        elif name in (b"EXEC", b"DISCARD") and in_multi and len(args) == 1:
            in_multi = False
            if name == b"EXEC" and reply[0] == b"*" and reply[1] is not None:
                reply = (b"*", [normalized(a, r) for a, r in zip(queued, reply[1], strict=True)])
        out.append(normalized(args, reply))
    return out


def normalized(args: list[bytes], reply: Reply) -> Reply:
    """`reply` without what differs between two correct servers (see the module doc)."""
    name = args[0].upper()
    kind, body = reply
    if kind == b"-" or name == b"EXEC":
        return reply
    if name in (b"TTL", b"PTTL", b"EXPIRETIME", b"PEXPIRETIME") and kind == b":" and body >= 0:
        return (kind, "a time")
    if name == b"RANDOMKEY":
        return (kind, body is not None)
    if name == b"TIME":
        return (kind, len(body))
    if name == b"INFO":  # the server's facts differ; its section's heading may not
        return (kind, body.split(b"\r\n")[0])
    if name == b"HELLO":  # the server's facts differ; the fields and the protocol may not
        return (
            kind,
            [
                (k, v if k[1] == b"proto" else None)
                for k, v in zip(body[::2], body[1::2], strict=True)
            ],
        )
    if name == b"KEYS":
        return (kind, sorted(b for _, b in body))
    if name == b"SCAN":
        return (kind, body[0], sorted(b for _, b in body[1][1]))
    if name == b"HRANDFIELD":
        return (kind, body is not None if kind == b"$" else len(body))
    return reply


def keyspace(conn: Connection) -> dict[bytes, tuple[Reply, Reply, Reply]]:
    """Every key's value (GET of a string, HGETALL of a hash) and kind of deadline."""
    keys = [b for _, b in conn.call(b"KEYS", b"*")[1]]
    n = len(keys)
    replies = conn.pipeline(
        [[b"GET", k] for k in keys] + [[b"HGETALL", k] for k in keys] + [[b"PTTL", k] for k in keys]
    )
    return {
        k: (replies[i], replies[n + i], normalized([b"PTTL"], replies[2 * n + i]))
        for i, k in enumerate(keys)
    }


def scan_all(conn: Connection, count: bytes) -> list[bytes]:
    cursor, seen = b"0", []
    while True:
        _, (next_cursor, keys) = conn.call(b"SCAN", cursor, b"COUNT", count)
        seen += [k for _, k in keys[1]]
        cursor = next_cursor[1]
        if cursor == b"0":
            return seen


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, LocalCluster]]:
    root = tmp_path_factory.mktemp("compat")
    redis_server = RedisServer(root)
    try:
        with LocalCluster(
            nodes=3, data_dir=root / "data", base_port=free_base_port(3), fsync=True
        ) as cluster:
            cluster.wait_ready(timeout_s=60)
            yield redis_server, cluster
    finally:
        redis_server.stop()


@settings(max_examples=EXAMPLES)
@given(commands=st.lists(command_or_transaction, min_size=1, max_size=25), node=st.integers(0, 2))
def test_random_commands_reply_as_redis_server_does(
    servers: tuple[RedisServer, LocalCluster], commands: list[list[bytes]], node: int
) -> None:
    redis_server, cluster = servers
    theirs, ours = Connection(redis_server.endpoint), Connection(cluster.nodes[node].client)
    try:
        for conn in (theirs, ours):
            assert conn.call(b"FLUSHDB") == (b"+", b"OK")
        commands = [*commands, [b"DISCARD"]]  # out of a transaction at the end
        expected = normalized_all(commands, theirs.pipeline(commands))
        got = normalized_all(commands, ours.pipeline(commands))
        for args, want, have in zip(commands, expected, got, strict=True):
            assert have == want, args
        assert keyspace(ours) == keyspace(theirs)
        assert sorted(scan_all(ours, b"1")) == sorted(keyspace(theirs))
    finally:
        theirs.close()
        ours.close()


def test_scan_meets_every_key_present_for_the_whole_walk(
    servers: tuple[RedisServer, LocalCluster],
) -> None:
    """Keys written and deleted between SCAN calls do not make the walk miss the keys that
    stay: Redis's promise, kept by a cursor over a fixed order of the keys."""
    _, cluster = servers
    conn = Connection(cluster.nodes[0].client)
    try:
        conn.call(b"FLUSHDB")
        stay = [b"stay:%d" % i for i in range(300)]
        conn.pipeline([[b"SET", k, b"v"] for k in stay])
        cursor, churn = b"0", 0
        seen: set[bytes] = set()
        while True:
            _, (next_cursor, keys) = conn.call(b"SCAN", cursor, b"COUNT", b"7")
            seen.update(k for _, k in keys[1])
            # Between calls: new keys, and deleted ones.
            conn.pipeline([[b"SET", b"churn:%d" % (churn + i), b"v"] for i in range(20)])
            conn.pipeline([[b"DEL", b"churn:%d" % (churn + i)] for i in range(0, 20, 2)])
            churn += 20
            cursor = next_cursor[1]
            if cursor == b"0":
                break
        assert set(stay) <= seen
    finally:
        conn.close()


def getkeys_cases(names_and_arities: list[tuple[bytes, int]]) -> list[list[bytes]]:
    """Commands to ask COMMAND GETKEYS and GETKEYSANDFLAGS about: every supported command with
    its fewest arguments and, taking more, one and two more; SET with and without GET; and
    what Redis refuses (unknown, no keys, wrong arity)."""
    cases = []
    for name, arity in names_and_arities:
        counts = [arity] if arity > 0 else [-arity, -arity + 1, -arity + 2]
        cases += [[name, *(b"a%d" % i for i in range(1, n))] for n in counts]
    cases += [
        [b"SET", b"k", b"v", b"GET"],
        [b"SET", b"k", b"v", b"EX", b"10", b"get"],
        [b"SET", b"k", b"v", b"KEEPTTL"],
        [b"NOSUCH", b"k"],
        [b"DBSIZE", b"x"],
        [b"GET", b"a", b"b"],
        [b"GET"],
    ]
    return cases


def test_command_getkeysandflags_lists_what_redis_server_lists(
    servers: tuple[RedisServer, LocalCluster],
) -> None:
    """COMMAND GETKEYS and GETKEYSANDFLAGS name the same keys with the same key-spec flags
    (RW, OW, RM, RO; access, update, insert, delete) as redis-server 7.0 for every command
    senate supports (from its own COMMAND INFO, the senate commands aside), and the same
    errors."""
    redis_server, cluster = servers
    theirs, ours = Connection(redis_server.endpoint), Connection(cluster.nodes[0].client)
    try:
        _, infos = ours.call(b"COMMAND", b"INFO")
        supported = [
            (info[1][0][1], info[1][1][1])
            for info in infos
            if not info[1][0][1].startswith(b"senate.")
        ]
        assert len(supported) > 70
        asks = [
            [b"COMMAND", sub, *case]
            for case in getkeys_cases(supported)
            for sub in (b"GETKEYS", b"GETKEYSANDFLAGS")
        ] + [[b"COMMAND", b"GETKEYSANDFLAGS"], [b"COMMAND", b"GETKEYSANDFLAGS", b"GET"]]
        replies = zip(asks, theirs.pipeline(asks), ours.pipeline(asks), strict=True)
        assert [(args, have) for args, want, have in replies if have != want] == []
    finally:
        theirs.close()
        ours.close()
