//! The command table: every command the service knows, with its Redis arity and its class
//! (who answers it: the replicated store, the session, or the node).

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
}

impl CommandSpec {
    pub fn arity_ok(&self, argc: usize) -> bool {
        let needed = self.arity.unsigned_abs() as usize;
        if self.arity >= 0 {
            argc == needed
        } else {
            argc >= needed
        }
    }
}

const fn spec(cmd: Cmd, name: &'static str, arity: i32, class: Class) -> CommandSpec {
    CommandSpec { cmd, name, arity, class }
}

/// Every command, in table order (the answer of `COMMAND COUNT` is its length).
pub static COMMANDS: [CommandSpec; 29] = [
    spec(Cmd::Set, "set", -3, Class::Write),
    spec(Cmd::Del, "del", -2, Class::Write),
    spec(Cmd::Incr, "incr", 2, Class::Write),
    spec(Cmd::IncrBy, "incrby", 3, Class::Write),
    spec(Cmd::Decr, "decr", 2, Class::Write),
    spec(Cmd::DecrBy, "decrby", 3, Class::Write),
    spec(Cmd::Append, "append", 3, Class::Write),
    spec(Cmd::MSet, "mset", -3, Class::Write),
    spec(Cmd::GetSet, "getset", 3, Class::Write),
    spec(Cmd::FlushDb, "flushdb", -1, Class::Write),
    spec(Cmd::Get, "get", 2, Class::Read),
    spec(Cmd::Exists, "exists", -2, Class::Read),
    spec(Cmd::StrLen, "strlen", 2, Class::Read),
    spec(Cmd::MGet, "mget", -2, Class::Read),
    spec(Cmd::DbSize, "dbsize", 1, Class::Read),
    spec(Cmd::Keys, "keys", 2, Class::Read),
    spec(Cmd::Ping, "ping", -1, Class::Session),
    spec(Cmd::Echo, "echo", 2, Class::Session),
    spec(Cmd::Select, "select", 2, Class::Session),
    spec(Cmd::Client, "client", -2, Class::Session),
    spec(Cmd::Hello, "hello", -1, Class::Session),
    spec(Cmd::Command, "command", -1, Class::Session),
    spec(Cmd::Config, "config", -2, Class::Session),
    spec(Cmd::ReadOnly, "readonly", 1, Class::Session),
    spec(Cmd::ReadWrite, "readwrite", 1, Class::Session),
    spec(Cmd::Quit, "quit", -1, Class::Session),
    spec(Cmd::Info, "info", -1, Class::Node),
    spec(Cmd::SenateSession, "senate.session", -2, Class::Write),
    spec(Cmd::SenateExec, "senate.exec", -5, Class::Write),
];

const _: () = assert!(matches!(COMMANDS[28].cmd, Cmd::SenateExec) && matches!(COMMANDS[10].cmd, Cmd::Get));

/// Longest command name in the table.
const MAX_NAME_BYTES: usize = 14;

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
        b"set" => 0,
        b"get" => 10,
        b"senate.exec" => 28,
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

/// `ERR wrong number of arguments for 'get' command`.
pub fn arity_error(name: &str) -> Vec<u8> {
    format!("ERR wrong number of arguments for '{name}' command").into_bytes()
}
