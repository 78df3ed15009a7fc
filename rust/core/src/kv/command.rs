//! The command table: every command the service knows, with its Redis arity, its class (who
//! answers it: the replicated store, the session, or the node) and its ACL categories (those
//! Redis 7 gives it). Commands with subcommands whose categories differ (ACL, CLIENT, CONFIG,
//! COMMAND) list them in [`SUBCOMMANDS`]; a user's permissions are a bit per row of both
//! tables ([`PermissionIndex`]).

use super::acl_category::{
    Categories, ADMIN, CONNECTION, DANGEROUS, FAST, HASH, KEYSPACE, READ, SLOW, STRING, TRANSACTION, WRITE,
};

/// Who answers a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Changes the store: replicated through the log.
    Write,
    /// Reads the store: after a read barrier (or at once on a READONLY connection).
    Read,
    /// Answered at once by the session, without the store.
    Session,
    /// Answered by the node (Python): INFO.
    Node,
}

/// The commands the service knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    Set,
    Del,
    Incr,
    IncrBy,
    Decr,
    DecrBy,
    Append,
    MSet,
    GetSet,
    FlushDb,
    Get,
    Exists,
    StrLen,
    MGet,
    DbSize,
    Keys,
    Ping,
    Echo,
    Select,
    Client,
    Hello,
    Command,
    Config,
    ReadOnly,
    ReadWrite,
    Quit,
    Info,
    /// `SENATE.SESSION OPEN | CLOSE id`: a client session (`client_sessions`).
    SenateSession,
    /// `SENATE.EXEC session seq first_unacked command...`: a write run at most once.
    SenateExec,
    /// `AUTH [username] password`.
    Auth,
    /// `ACL WHOAMI | LIST | USERS | CAT [category] | ...`.
    Acl,
    Ttl,
    PTtl,
    Expire,
    PExpire,
    ExpireAt,
    PExpireAt,
    ExpireTime,
    PExpireTime,
    Persist,
    SetEx,
    PSetEx,
    GetEx,
    Type,
    Rename,
    RenameNx,
    Unlink,
    Copy,
    Touch,
    RandomKey,
    Scan,
    Time,
    SetNx,
    MSetNx,
    IncrByFloat,
    GetDel,
    GetRange,
    SetRange,
    Lcs,
    /// `SENATE.MEMBER LIST | ADD id host:port | PROMOTE id | REMOVE id`: the cluster's
    /// membership (docs/membership.md).
    SenateMember,
    /// `SENATE.TRANSFERLEADER id`: the leader hands its leadership to voter `id`.
    SenateTransferLeader,
    HSet,
    HMSet,
    HSetNx,
    HGet,
    HMGet,
    HDel,
    HGetAll,
    HKeys,
    HVals,
    HLen,
    HExists,
    HIncrBy,
    HIncrByFloat,
    HStrLen,
    HScan,
    HRandField,
    /// GETRANGE's old name.
    Substr,
    /// `MULTI`: the commands that follow are queued until EXEC (`transaction`).
    Multi,
    /// `EXEC`: runs the queued commands as one log entry.
    Exec,
    /// `DISCARD`: drops the queued commands.
    Discard,
    /// `WATCH key...`: EXEC runs nothing if one of them changes first.
    Watch,
    /// `UNWATCH`.
    Unwatch,
    /// `RESET`: the connection as new (Redis 6.2), answered by the session.
    Reset,
}

/// One row of the table.
#[derive(Debug)]
pub struct CommandSpec {
    pub cmd: Cmd,
    /// Lowercase, as Redis names it in errors.
    pub name: &'static str,
    /// Redis arity, the name included: positive = exactly, negative = at least `-arity`.
    pub arity: i32,
    pub class: Class,
    /// The ACL categories Redis 7 gives the command (of a container: none; see
    /// [`SUBCOMMANDS`]).
    pub categories: Categories,
    /// Its first argument is a subcommand listed in [`SUBCOMMANDS`].
    pub container: bool,
    /// It takes key names as arguments (a user without `~*` may not run it).
    pub keys: bool,
    /// Its bit in a user's permissions when one test decides (`1 << index`); 0 for a
    /// container, COMMAND and SENATE.EXEC, which are checked apart (`Login::refusal_of`).
    pub fast_bit: u128,
    /// Redis's `denyoom` flag: refused with `-OOM` while the store is over `maxmemory`
    /// (every write but those that only free memory, [`frees_memory`]).
    pub denyoom: bool,
}

/// One subcommand of a container command.
#[derive(Debug)]
pub struct SubcommandSpec {
    pub parent: Cmd,
    /// Lowercase, as Redis names it in `parent|name`.
    pub name: &'static str,
    /// Redis's arity of `parent name ...`, both names included (checked when a transaction
    /// queues it, as Redis does; the answer checks it too).
    pub arity: i32,
    pub categories: Categories,
}

impl SubcommandSpec {
    pub fn arity_ok(&self, argc: usize) -> bool {
        arity_ok(self.arity, argc)
    }
}

/// Whether `argc` words (the names included) fit Redis's `arity`: exactly `arity` when it is
/// positive, at least `-arity` when negative.
fn arity_ok(arity: i32, argc: usize) -> bool {
    let needed = arity.unsigned_abs() as usize;
    if arity >= 0 {
        argc == needed
    } else {
        argc >= needed
    }
}

/// The index of a command or subcommand in a user's permissions: `[0, COMMANDS.len())` for
/// the rows of [`COMMANDS`], `COMMANDS.len() + i` for row `i` of [`SUBCOMMANDS`].
pub type PermissionIndex = usize;

/// Rows of both tables: every permission index is below it.
pub const PERMISSION_COUNT: usize = COMMANDS.len() + SUBCOMMANDS.len();

impl CommandSpec {
    pub fn arity_ok(&self, argc: usize) -> bool {
        arity_ok(self.arity, argc)
    }

    /// The arity and, for MSET, MSETNX, HSET and HMSET, whole pairs: what Redis checks before
    /// running a command (all say `wrong number of arguments`).
    #[inline]
    pub fn args_ok(&self, argc: usize) -> bool {
        self.arity_ok(argc)
            && !(matches!(self.cmd, Cmd::MSet | Cmd::MSetNx) && argc.is_multiple_of(2))
            && (!matches!(self.cmd, Cmd::HSet | Cmd::HMSet) || argc.is_multiple_of(2))
    }

    /// `(first, last, step)` of its key arguments as COMMAND INFO states them (`last` -1:
    /// to the end), `(0, 0, 0)` for none.
    pub fn key_positions(&self) -> (i64, i64, i64) {
        match self.cmd {
            _ if !self.keys => (0, 0, 0),
            Cmd::Del | Cmd::Exists | Cmd::MGet | Cmd::Unlink | Cmd::Touch => (1, -1, 1),
            Cmd::MSet | Cmd::MSetNx => (1, -1, 2),
            Cmd::Rename | Cmd::RenameNx | Cmd::Copy | Cmd::Lcs => (1, 2, 1),
            Cmd::Watch => (1, -1, 1),
            _ => (1, 1, 1),
        }
    }
}

impl Cmd {
    /// Its row in [`COMMANDS`] and its permission index.
    pub const fn index(self) -> PermissionIndex {
        self as usize
    }
}

const fn spec(cmd: Cmd, name: &'static str, arity: i32, class: Class, categories: Categories) -> CommandSpec {
    // Reads and writes name keys, except these (KEYS takes a pattern); so does WATCH.
    let keys = matches!(cmd, Cmd::Watch)
        || matches!(class, Class::Write | Class::Read)
            && !matches!(
                cmd,
                Cmd::FlushDb
                    | Cmd::DbSize
                    | Cmd::Keys
                    | Cmd::SenateSession
                    | Cmd::SenateExec
                    | Cmd::RandomKey
                    | Cmd::Scan
                    | Cmd::Time
            );
    // COMMAND alone is a command, with an argument a subcommand: checked apart too.
    let fast_bit = if matches!(cmd, Cmd::SenateExec | Cmd::Command) { 0 } else { 1u128 << cmd as usize };
    let denyoom = matches!(class, Class::Write) && !frees_memory(cmd);
    CommandSpec { cmd, name, arity, class, categories, container: false, keys, fast_bit, denyoom }
}

/// The writes a store over `maxmemory` still takes (Redis gives them no `denyoom` flag): they
/// only remove keys, sessions or deadlines, or rename a key, or, SENATE.EXEC, are decided by
/// the command they wrap. A new write that only frees memory belongs here, or `-OOM` would
/// refuse the way out.
const fn frees_memory(cmd: Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Del
            | Cmd::FlushDb
            | Cmd::SenateSession
            | Cmd::SenateExec
            | Cmd::Unlink
            | Cmd::GetDel
            | Cmd::GetEx
            | Cmd::Expire
            | Cmd::PExpire
            | Cmd::ExpireAt
            | Cmd::PExpireAt
            | Cmd::Persist
            | Cmd::Rename
            | Cmd::RenameNx
            | Cmd::HDel
    )
}

const fn container(cmd: Cmd, name: &'static str, arity: i32) -> CommandSpec {
    let categories = Categories::NONE;
    CommandSpec {
        cmd,
        name,
        arity,
        class: Class::Session,
        categories,
        container: true,
        keys: false,
        fast_bit: 0,
        denyoom: false,
    }
}

const fn sub(parent: Cmd, name: &'static str, arity: i32, categories: Categories) -> SubcommandSpec {
    SubcommandSpec { parent, name, arity, categories }
}

const fn cats(bits: &[Categories]) -> Categories {
    let mut all = Categories::NONE;
    let mut i = 0;
    while i < bits.len() {
        all = all.with(bits[i]);
        i += 1;
    }
    all
}

const W_STRING_FAST: Categories = cats(&[WRITE, STRING, FAST]);
const R_STRING_FAST: Categories = cats(&[READ, STRING, FAST]);
const FAST_CONNECTION: Categories = cats(&[FAST, CONNECTION]);
const SLOW_CONNECTION: Categories = cats(&[SLOW, CONNECTION]);
const ADMIN_SLOW_DANGEROUS: Categories = cats(&[ADMIN, SLOW, DANGEROUS]);
const W_STRING_SLOW: Categories = cats(&[WRITE, STRING, SLOW]);
const R_STRING_SLOW: Categories = cats(&[READ, STRING, SLOW]);
const KEYSPACE_R_FAST: Categories = cats(&[KEYSPACE, READ, FAST]);
const KEYSPACE_R_SLOW: Categories = cats(&[KEYSPACE, READ, SLOW]);
const KEYSPACE_W_FAST: Categories = cats(&[KEYSPACE, WRITE, FAST]);
const KEYSPACE_W_SLOW: Categories = cats(&[KEYSPACE, WRITE, SLOW]);
const W_HASH_FAST: Categories = cats(&[WRITE, HASH, FAST]);
const R_HASH_FAST: Categories = cats(&[READ, HASH, FAST]);
const R_HASH_SLOW: Categories = cats(&[READ, HASH, SLOW]);
const FAST_TRANSACTION: Categories = cats(&[FAST, TRANSACTION]);

/// Every command, in table order: row `i` is the command whose `Cmd` is `i` (the answer of
/// `COMMAND COUNT` is its length). Categories as Redis 7.0 gives them; the senate commands:
/// SENATE.SESSION opens or closes a client session, a replicated write of the connection's
/// own (@write @fast @connection); SENATE.EXEC is @write @fast, and the command it wraps must
/// be allowed too. SENATE.MEMBER and SENATE.TRANSFERLEADER change the cluster itself:
/// @admin @slow @dangerous, as Redis's CLUSTER and FAILOVER are, so a user needs `+@admin`
/// (or the commands by name) to run them; the node answers them (their arguments are read
/// there).
pub static COMMANDS: [CommandSpec; 84] = [
    spec(Cmd::Set, "set", -3, Class::Write, cats(&[WRITE, STRING, SLOW])),
    spec(Cmd::Del, "del", -2, Class::Write, cats(&[KEYSPACE, WRITE, SLOW])),
    spec(Cmd::Incr, "incr", 2, Class::Write, W_STRING_FAST),
    spec(Cmd::IncrBy, "incrby", 3, Class::Write, W_STRING_FAST),
    spec(Cmd::Decr, "decr", 2, Class::Write, W_STRING_FAST),
    spec(Cmd::DecrBy, "decrby", 3, Class::Write, W_STRING_FAST),
    spec(Cmd::Append, "append", 3, Class::Write, W_STRING_FAST),
    spec(Cmd::MSet, "mset", -3, Class::Write, cats(&[WRITE, STRING, SLOW])),
    spec(Cmd::GetSet, "getset", 3, Class::Write, W_STRING_FAST),
    spec(Cmd::FlushDb, "flushdb", -1, Class::Write, cats(&[KEYSPACE, WRITE, SLOW, DANGEROUS])),
    spec(Cmd::Get, "get", 2, Class::Read, R_STRING_FAST),
    spec(Cmd::Exists, "exists", -2, Class::Read, cats(&[KEYSPACE, READ, FAST])),
    spec(Cmd::StrLen, "strlen", 2, Class::Read, R_STRING_FAST),
    spec(Cmd::MGet, "mget", -2, Class::Read, R_STRING_FAST),
    spec(Cmd::DbSize, "dbsize", 1, Class::Read, cats(&[KEYSPACE, READ, FAST])),
    spec(Cmd::Keys, "keys", 2, Class::Read, cats(&[KEYSPACE, READ, SLOW, DANGEROUS])),
    spec(Cmd::Ping, "ping", -1, Class::Session, FAST_CONNECTION),
    spec(Cmd::Echo, "echo", 2, Class::Session, FAST_CONNECTION),
    spec(Cmd::Select, "select", 2, Class::Session, FAST_CONNECTION),
    container(Cmd::Client, "client", -2),
    spec(Cmd::Hello, "hello", -1, Class::Session, FAST_CONNECTION),
    spec(Cmd::Command, "command", -1, Class::Session, SLOW_CONNECTION),
    container(Cmd::Config, "config", -2),
    spec(Cmd::ReadOnly, "readonly", 1, Class::Session, FAST_CONNECTION),
    spec(Cmd::ReadWrite, "readwrite", 1, Class::Session, FAST_CONNECTION),
    spec(Cmd::Quit, "quit", -1, Class::Session, FAST_CONNECTION),
    spec(Cmd::Info, "info", -1, Class::Node, cats(&[SLOW, DANGEROUS])),
    spec(Cmd::SenateSession, "senate.session", -2, Class::Write, cats(&[WRITE, FAST, CONNECTION])),
    spec(Cmd::SenateExec, "senate.exec", -5, Class::Write, cats(&[WRITE, FAST])),
    spec(Cmd::Auth, "auth", -2, Class::Session, FAST_CONNECTION),
    container(Cmd::Acl, "acl", -2),
    spec(Cmd::Ttl, "ttl", 2, Class::Read, KEYSPACE_R_FAST),
    spec(Cmd::PTtl, "pttl", 2, Class::Read, KEYSPACE_R_FAST),
    spec(Cmd::Expire, "expire", -3, Class::Write, KEYSPACE_W_FAST),
    spec(Cmd::PExpire, "pexpire", -3, Class::Write, KEYSPACE_W_FAST),
    spec(Cmd::ExpireAt, "expireat", -3, Class::Write, KEYSPACE_W_FAST),
    spec(Cmd::PExpireAt, "pexpireat", -3, Class::Write, KEYSPACE_W_FAST),
    spec(Cmd::ExpireTime, "expiretime", 2, Class::Read, KEYSPACE_R_FAST),
    spec(Cmd::PExpireTime, "pexpiretime", 2, Class::Read, KEYSPACE_R_FAST),
    spec(Cmd::Persist, "persist", 2, Class::Write, KEYSPACE_W_FAST),
    spec(Cmd::SetEx, "setex", 4, Class::Write, W_STRING_SLOW),
    spec(Cmd::PSetEx, "psetex", 4, Class::Write, W_STRING_SLOW),
    spec(Cmd::GetEx, "getex", -2, Class::Write, W_STRING_FAST),
    spec(Cmd::Type, "type", 2, Class::Read, KEYSPACE_R_FAST),
    spec(Cmd::Rename, "rename", 3, Class::Write, KEYSPACE_W_SLOW),
    spec(Cmd::RenameNx, "renamenx", 3, Class::Write, KEYSPACE_W_FAST),
    spec(Cmd::Unlink, "unlink", -2, Class::Write, KEYSPACE_W_FAST),
    spec(Cmd::Copy, "copy", -3, Class::Write, KEYSPACE_W_SLOW),
    spec(Cmd::Touch, "touch", -2, Class::Read, KEYSPACE_R_FAST),
    spec(Cmd::RandomKey, "randomkey", 1, Class::Read, KEYSPACE_R_SLOW),
    spec(Cmd::Scan, "scan", -2, Class::Read, KEYSPACE_R_SLOW),
    spec(Cmd::Time, "time", 1, Class::Read, FAST),
    spec(Cmd::SetNx, "setnx", 3, Class::Write, W_STRING_FAST),
    spec(Cmd::MSetNx, "msetnx", -3, Class::Write, W_STRING_SLOW),
    spec(Cmd::IncrByFloat, "incrbyfloat", 3, Class::Write, W_STRING_FAST),
    spec(Cmd::GetDel, "getdel", 2, Class::Write, W_STRING_FAST),
    spec(Cmd::GetRange, "getrange", 4, Class::Read, R_STRING_SLOW),
    spec(Cmd::SetRange, "setrange", 4, Class::Write, W_STRING_SLOW),
    spec(Cmd::Lcs, "lcs", -3, Class::Read, R_STRING_SLOW),
    spec(Cmd::SenateMember, "senate.member", -2, Class::Node, ADMIN_SLOW_DANGEROUS),
    spec(Cmd::SenateTransferLeader, "senate.transferleader", 2, Class::Node, ADMIN_SLOW_DANGEROUS),
    spec(Cmd::HSet, "hset", -4, Class::Write, W_HASH_FAST),
    spec(Cmd::HMSet, "hmset", -4, Class::Write, W_HASH_FAST),
    spec(Cmd::HSetNx, "hsetnx", 4, Class::Write, W_HASH_FAST),
    spec(Cmd::HGet, "hget", 3, Class::Read, R_HASH_FAST),
    spec(Cmd::HMGet, "hmget", -3, Class::Read, R_HASH_FAST),
    spec(Cmd::HDel, "hdel", -3, Class::Write, W_HASH_FAST),
    spec(Cmd::HGetAll, "hgetall", 2, Class::Read, R_HASH_SLOW),
    spec(Cmd::HKeys, "hkeys", 2, Class::Read, R_HASH_SLOW),
    spec(Cmd::HVals, "hvals", 2, Class::Read, R_HASH_SLOW),
    spec(Cmd::HLen, "hlen", 2, Class::Read, R_HASH_FAST),
    spec(Cmd::HExists, "hexists", 3, Class::Read, R_HASH_FAST),
    spec(Cmd::HIncrBy, "hincrby", 4, Class::Write, W_HASH_FAST),
    spec(Cmd::HIncrByFloat, "hincrbyfloat", 4, Class::Write, W_HASH_FAST),
    spec(Cmd::HStrLen, "hstrlen", 3, Class::Read, R_HASH_FAST),
    spec(Cmd::HScan, "hscan", -3, Class::Read, R_HASH_SLOW),
    spec(Cmd::HRandField, "hrandfield", -2, Class::Read, R_HASH_SLOW),
    spec(Cmd::Substr, "substr", 4, Class::Read, R_STRING_SLOW),
    spec(Cmd::Multi, "multi", 1, Class::Session, FAST_TRANSACTION),
    spec(Cmd::Exec, "exec", 1, Class::Session, cats(&[SLOW, TRANSACTION])),
    spec(Cmd::Discard, "discard", 1, Class::Session, FAST_TRANSACTION),
    spec(Cmd::Watch, "watch", -2, Class::Session, FAST_TRANSACTION),
    spec(Cmd::Unwatch, "unwatch", 1, Class::Session, FAST_TRANSACTION),
    spec(Cmd::Reset, "reset", 1, Class::Session, FAST_CONNECTION),
];

/// The subcommands of the containers (and of COMMAND, whose subcommands Redis lists
/// apart), with Redis 7's categories.
pub static SUBCOMMANDS: [SubcommandSpec; 31] = [
    sub(Cmd::Client, "setname", 3, SLOW_CONNECTION),
    sub(Cmd::Client, "getname", 2, SLOW_CONNECTION),
    sub(Cmd::Client, "id", 2, SLOW_CONNECTION),
    sub(Cmd::Client, "info", 2, SLOW_CONNECTION),
    sub(Cmd::Client, "list", -2, cats(&[ADMIN, SLOW, DANGEROUS, CONNECTION])),
    sub(Cmd::Client, "setinfo", 4, SLOW_CONNECTION),
    sub(Cmd::Client, "no-evict", 3, cats(&[ADMIN, SLOW, DANGEROUS, CONNECTION])),
    sub(Cmd::Client, "no-touch", 3, SLOW_CONNECTION),
    sub(Cmd::Client, "reply", 3, SLOW_CONNECTION),
    sub(Cmd::Command, "count", 2, SLOW_CONNECTION),
    sub(Cmd::Command, "docs", -2, SLOW_CONNECTION),
    sub(Cmd::Command, "info", -2, SLOW_CONNECTION),
    sub(Cmd::Command, "list", -2, SLOW_CONNECTION),
    sub(Cmd::Command, "getkeys", -4, SLOW_CONNECTION),
    sub(Cmd::Command, "getkeysandflags", -4, SLOW_CONNECTION),
    sub(Cmd::Config, "get", -3, ADMIN_SLOW_DANGEROUS),
    sub(Cmd::Config, "set", -4, ADMIN_SLOW_DANGEROUS),
    sub(Cmd::Config, "resetstat", 2, ADMIN_SLOW_DANGEROUS),
    sub(Cmd::Acl, "whoami", 2, SLOW),
    sub(Cmd::Acl, "cat", -2, SLOW),
    sub(Cmd::Acl, "list", 2, ADMIN_SLOW_DANGEROUS),
    sub(Cmd::Acl, "users", 2, ADMIN_SLOW_DANGEROUS),
    sub(Cmd::Acl, "getuser", 3, ADMIN_SLOW_DANGEROUS),
    sub(Cmd::Acl, "setuser", -3, ADMIN_SLOW_DANGEROUS),
    sub(Cmd::Acl, "deluser", -3, ADMIN_SLOW_DANGEROUS),
    sub(Cmd::Acl, "save", 2, ADMIN_SLOW_DANGEROUS),
    sub(Cmd::Acl, "load", 2, ADMIN_SLOW_DANGEROUS),
    sub(Cmd::Acl, "log", -2, ADMIN_SLOW_DANGEROUS),
    sub(Cmd::Acl, "dryrun", -4, ADMIN_SLOW_DANGEROUS),
    sub(Cmd::Acl, "genpass", -2, SLOW),
    sub(Cmd::Acl, "help", 2, SLOW),
];

const fn table_in_order() -> bool {
    let mut i = 0;
    while i < COMMANDS.len() {
        if COMMANDS[i].cmd as usize != i {
            return false;
        }
        i += 1;
    }
    true
}

const _: () = assert!(table_in_order());

/// The permission index of `parent`'s subcommand `name` (any case), if the table lists it.
pub fn lookup_subcommand(parent: Cmd, name: &[u8]) -> Option<PermissionIndex> {
    SUBCOMMANDS
        .iter()
        .position(|sub| sub.parent == parent && sub.name.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| COMMANDS.len() + i)
}

/// `client|list` for a subcommand, `get` for a command: how Redis names it in errors and in
/// ACL rules.
pub fn permission_name(index: PermissionIndex) -> String {
    match index.checked_sub(COMMANDS.len()) {
        None => COMMANDS[index].name.to_string(),
        Some(i) => format!("{}|{}", COMMANDS[SUBCOMMANDS[i].parent.index()].name, SUBCOMMANDS[i].name),
    }
}

/// The categories of a command or subcommand.
pub fn permission_categories(index: PermissionIndex) -> Categories {
    match index.checked_sub(COMMANDS.len()) {
        None => COMMANDS[index].categories,
        Some(i) => SUBCOMMANDS[i].categories,
    }
}

/// Longest command name in the table ("senate.transferleader").
const MAX_NAME_BYTES: usize = 21;

const fn names_fit() -> bool {
    let mut i = 0;
    while i < COMMANDS.len() {
        if COMMANDS[i].name.len() > MAX_NAME_BYTES {
            return false;
        }
        i += 1;
    }
    true
}

const _: () = assert!(names_fit(), "a command name is longer than MAX_NAME_BYTES: lookup would miss it");

/// The command named `name`, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    if name.len() > MAX_NAME_BYTES {
        return None;
    }
    let mut lower = [0u8; MAX_NAME_BYTES];
    for (slot, b) in lower.iter_mut().zip(name) {
        *slot = b.to_ascii_lowercase();
    }
    let lower = &lower[..name.len()];
    // The hot commands first (every exactly-once write is a SENATE.EXEC); the table is small
    // enough for a scan after that.
    let index = match lower {
        b"set" => Cmd::Set.index(),
        b"get" => Cmd::Get.index(),
        b"senate.exec" => Cmd::SenateExec.index(),
        _ => return COMMANDS.iter().find(|c| c.name.as_bytes() == lower),
    };
    Some(&COMMANDS[index])
}

/// `-ERR unknown command 'foo', with args beginning with: 'a' 'b' ` exactly as Redis 7 says
/// it: the name cut at 128 bytes, then arguments while the list is under 128 bytes.
pub fn unknown_command_error(args: &[&[u8]]) -> Vec<u8> {
    let name = args.first().copied().unwrap_or_default();
    let mut message = b"ERR unknown command '".to_vec();
    message.extend_from_slice(&name[..name.len().min(128)]);
    message.extend_from_slice(b"', with args beginning with: ");
    let mut listed = Vec::new();
    for arg in args.iter().skip(1) {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push(b'\'');
        listed.extend_from_slice(&arg[..arg.len().min(room)]);
        listed.extend_from_slice(b"' ");
    }
    message.extend_from_slice(&listed);
    message
}

/// The error Redis gives, before running it, for a container command (or COMMAND with an
/// argument) whose subcommand `args[1]` is unknown or has the wrong number of arguments
/// (what a transaction refuses while queueing; run, the answer says the same).
pub fn subcommand_error(spec: &CommandSpec, args: &[&[u8]]) -> Option<Vec<u8>> {
    if !(spec.container || spec.cmd == Cmd::Command && args.len() > 1) {
        return None;
    }
    let name = args[1];
    let Some(sub) =
        SUBCOMMANDS.iter().find(|sub| sub.parent == spec.cmd && sub.name.as_bytes().eq_ignore_ascii_case(name))
    else {
        let mut message = b"ERR unknown subcommand '".to_vec();
        message.extend_from_slice(&name[..name.len().min(128)]);
        message.extend_from_slice(format!("'. Try {} HELP.", spec.name.to_ascii_uppercase()).as_bytes());
        return Some(message);
    };
    (!sub.arity_ok(args.len())).then(|| arity_error(&format!("{}|{}", spec.name, sub.name)))
}

/// `ERR wrong number of arguments for 'get' command`.
pub fn arity_error(name: &str) -> Vec<u8> {
    format!("ERR wrong number of arguments for '{name}' command").into_bytes()
}
