//! The session-class commands, answered at once from the connection's own state: PING, ECHO,
//! SELECT, CLIENT, HELLO, COMMAND, CONFIG, READONLY, READWRITE (and AUTH, ACL: `acl_command`).

use super::acl_category::{Categories, CONNECTION, FAST, HASH, KEYSPACE, STRING, TRANSACTION};
use super::acl_command::{self, Login, NOAUTH_HELLO};
use super::command::{arity_error, lookup, lookup_subcommand, Class, Cmd, CommandSpec, COMMANDS, SUBCOMMANDS};
use super::exec::{eq_nocase, NOT_INTEGER};
use super::glob::glob_match;
use super::key_specs::keys_and_flags;
use crate::codec::resp::{
    parse_i64, put_array_header, put_bulk, put_error, put_integer, put_map_header, put_null, put_null_aggregate,
    put_ok, put_simple, Protocol,
};

/// The Redis version whose behaviour the service follows, reported by HELLO (clients gate
/// features on it).
pub const REDIS_COMPAT_VERSION: &str = "7.2.0";

/// What a session knows of its client.
#[derive(Clone, Debug, Default)]
pub struct ClientState {
    /// Given by the server (CLIENT ID, HELLO).
    pub id: u64,
    /// Set by CLIENT SETNAME or HELLO SETNAME.
    pub name: Option<Vec<u8>>,
    /// Reads run at once against local state (READONLY) instead of after a read barrier.
    pub readonly: bool,
    /// Reported by CONFIG GET proto-max-bulk-len.
    pub max_value_bytes: usize,
    /// The protocol of the replies: RESP2 until HELLO 3.
    pub protocol: Protocol,
    /// The user it is authenticated as, and what it may run.
    pub login: Login,
}

/// Appends the reply of the session command `cmd` (arity already checked).
pub fn answer(client: &mut ClientState, cmd: Cmd, args: &[&[u8]], out: &mut Vec<u8>) {
    match cmd {
        Cmd::Ping => match args {
            [_] => put_simple(out, b"PONG"),
            [_, message] => put_bulk(out, message),
            _ => put_error(out, &arity_error("ping")),
        },
        Cmd::Echo => put_bulk(out, args[1]),
        Cmd::Select => match parse_i64(args[1]) {
            Some(0) => put_ok(out),
            Some(_) => put_error(out, b"ERR DB index is out of range"),
            None => put_error(out, NOT_INTEGER),
        },
        Cmd::Client => client_command(client, args, out),
        Cmd::Hello => hello(client, args, out),
        Cmd::Command => command_command(client, args, out),
        Cmd::Config => config_command(client, args, out),
        Cmd::ReadOnly => {
            client.readonly = true;
            put_ok(out);
        }
        Cmd::ReadWrite => {
            client.readonly = false;
            put_ok(out);
        }
        Cmd::Auth => acl_command::auth(client, args, out),
        Cmd::Acl => acl_command::acl(client, args, out),
        _ => put_error(out, b"ERR this command is not answered by the session"),
    }
}

pub(super) fn unknown_subcommand(out: &mut Vec<u8>, command: &str, sub: &[u8]) {
    let mut message = b"ERR unknown subcommand '".to_vec();
    message.extend_from_slice(&sub[..sub.len().min(128)]);
    message.extend_from_slice(format!("'. Try {} HELP.", command.to_ascii_uppercase()).as_bytes());
    put_error(out, &message);
}

/// Whether `name` is a valid client name (no spaces, newlines or special characters).
fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

fn set_name(client: &mut ClientState, name: &[u8], out: &mut Vec<u8>) -> bool {
    if !valid_name(name) {
        put_error(out, b"ERR Client names cannot contain spaces, newlines or special characters.");
        return false;
    }
    client.name = (!name.is_empty()).then(|| name.to_vec());
    true
}

fn client_info(client: &ClientState) -> Vec<u8> {
    let mut line = format!("id={} name=", client.id).into_bytes();
    line.extend_from_slice(client.name.as_deref().unwrap_or_default());
    let (user, resp) = (client.login.user_name(), client.protocol.version());
    line.extend_from_slice(format!(" db=0 user={user} resp={resp}\n").as_bytes());
    line
}

fn client_command(client: &mut ClientState, args: &[&[u8]], out: &mut Vec<u8>) {
    let sub = args[1];
    let lower = sub.to_ascii_lowercase();
    let (arity_ok, known) = match &lower[..] {
        b"setname" => (args.len() == 3, true),
        b"getname" | b"id" | b"info" => (args.len() == 2, true),
        b"list" => (args.len() >= 2, true),
        b"setinfo" => (args.len() == 4, true),
        b"no-evict" | b"no-touch" | b"reply" => (args.len() == 3, true),
        _ => (false, false),
    };
    if !known {
        return unknown_subcommand(out, "client", sub);
    }
    if !arity_ok {
        let name = format!("client|{}", String::from_utf8_lossy(&lower));
        return put_error(out, &arity_error(&name));
    }
    match &lower[..] {
        b"setname" => {
            if set_name(client, args[2], out) {
                put_ok(out);
            }
        }
        b"getname" => match &client.name {
            Some(name) => put_bulk(out, name),
            None => put_null(out, client.protocol),
        },
        b"id" => put_integer(out, client.id as i64),
        b"info" | b"list" => put_bulk(out, &client_info(client)),
        b"setinfo" => {
            if eq_nocase(args[2], b"lib-name") || eq_nocase(args[2], b"lib-ver") {
                put_ok(out);
            } else {
                let mut message = b"ERR Unrecognized option '".to_vec();
                message.extend_from_slice(args[2]);
                message.push(b'\'');
                put_error(out, &message);
            }
        }
        b"reply" if !eq_nocase(args[2], b"on") => put_error(out, b"ERR CLIENT REPLY OFF|SKIP is not supported"),
        _ => put_ok(out),
    }
}

/// `HELLO [protover [AUTH username password] [SETNAME name]]`: switches the connection to
/// `protover` (2 or 3; the current one without it), then answers the server's facts as a map
/// in that protocol, as Redis 7 does.
fn hello(client: &mut ClientState, args: &[&[u8]], out: &mut Vec<u8>) {
    let protocol = match args.get(1).map(|version| parse_i64(version)) {
        None => client.protocol,
        Some(None) => return put_error(out, b"ERR Protocol version is not an integer or out of range"),
        Some(Some(version)) => match Protocol::from_version(version) {
            Some(protocol) => protocol,
            None => return put_error(out, b"NOPROTO unsupported protocol version"),
        },
    };
    let mut i = 2;
    let mut new_name = None;
    let mut credentials = None;
    while i < args.len() {
        let more = args.len() - i - 1;
        if acl_command::is_auth_option(args[i]) && more >= 2 {
            credentials = Some((args[i + 1], args[i + 2]));
            i += 3;
        } else if eq_nocase(args[i], b"setname") && more >= 1 {
            new_name = Some(args[i + 1]);
            i += 2;
        } else {
            let mut message = b"ERR Syntax error in HELLO option '".to_vec();
            message.extend_from_slice(args[i]);
            message.push(b'\'');
            return put_error(out, &message);
        }
    }
    if let Some((user, password)) = credentials {
        if !acl_command::hello_auth(client, user, password, out) {
            return;
        }
    }
    if client.login.user.is_none() {
        return put_error(out, NOAUTH_HELLO);
    }
    if let Some(name) = new_name {
        if !set_name(client, name, out) {
            return;
        }
    }
    client.protocol = protocol;
    put_map_header(out, 7, protocol);
    for (field, value) in [("server", "senate"), ("version", REDIS_COMPAT_VERSION)] {
        put_bulk(out, field.as_bytes());
        put_bulk(out, value.as_bytes());
    }
    put_bulk(out, b"proto");
    put_integer(out, i64::from(protocol.version()));
    put_bulk(out, b"id");
    put_integer(out, client.id as i64);
    for (field, value) in [("mode", "standalone"), ("role", "master")] {
        put_bulk(out, field.as_bytes());
        put_bulk(out, value.as_bytes());
    }
    put_bulk(out, b"modules");
    put_array_header(out, 0);
}

fn command_command(client: &ClientState, args: &[&[u8]], out: &mut Vec<u8>) {
    let protocol = client.protocol;
    let Some(sub) = args.get(1) else {
        put_array_header(out, COMMANDS.len());
        for spec in &COMMANDS {
            put_command_info(out, spec);
        }
        return;
    };
    if eq_nocase(sub, b"count") && args.len() == 2 {
        put_integer(out, COMMANDS.len() as i64);
    } else if eq_nocase(sub, b"docs") {
        let wanted: Vec<&CommandSpec> = if args.len() == 2 {
            COMMANDS.iter().collect()
        } else {
            args[2..].iter().filter_map(|name| lookup(name)).collect()
        };
        put_map_header(out, wanted.len(), protocol);
        for spec in wanted {
            put_bulk(out, spec.name.as_bytes());
            put_map_header(out, 1, protocol);
            put_bulk(out, b"group");
            put_bulk(out, command_group(spec).as_bytes());
        }
    } else if eq_nocase(sub, b"info") {
        if args.len() == 2 {
            put_array_header(out, COMMANDS.len());
            for spec in &COMMANDS {
                put_command_info(out, spec);
            }
            return;
        }
        put_array_header(out, args.len() - 2);
        for name in &args[2..] {
            match lookup(name) {
                Some(spec) => put_command_info(out, spec),
                None => put_null_aggregate(out, protocol),
            }
        }
    } else if eq_nocase(sub, b"list") {
        put_array_header(out, COMMANDS.len());
        for spec in &COMMANDS {
            put_bulk(out, spec.name.as_bytes());
        }
    } else if eq_nocase(sub, b"getkeys") {
        get_keys(args, false, out);
    } else if eq_nocase(sub, b"getkeysandflags") {
        get_keys(args, true, out);
    } else {
        unknown_subcommand(out, "command", sub);
    }
}

/// `COMMAND GETKEYS command arg...` (and GETKEYSANDFLAGS, `with_flags`: each key with its
/// key-spec flags): the key arguments of a command, from its key specs, with Redis 7.0's
/// errors in its order (arity of the subcommand, unknown, no keys, the command's arity).
fn get_keys(args: &[&[u8]], with_flags: bool, out: &mut Vec<u8>) {
    if args.len() < 4 {
        let name = if with_flags { "command|getkeysandflags" } else { "command|getkeys" };
        return put_error(out, &arity_error(name));
    }
    let command = &args[2..];
    let known_subcommand = |spec: &CommandSpec| {
        !(spec.container || spec.cmd == Cmd::Command) || lookup_subcommand(spec.cmd, command[1]).is_some()
    };
    let Some(spec) = lookup(command[0]).filter(|spec| known_subcommand(spec)) else {
        return put_error(out, b"ERR Invalid command specified");
    };
    if !spec.keys {
        return put_error(out, b"ERR The command has no key arguments");
    }
    if !spec.arity_ok(command.len()) {
        return put_error(out, b"ERR Invalid number of arguments specified for command");
    }
    let keys = keys_and_flags(spec.cmd, command);
    put_array_header(out, keys.len());
    for (key, flags) in keys {
        if !with_flags {
            put_bulk(out, key);
            continue;
        }
        put_array_header(out, 2);
        put_bulk(out, key);
        let names: Vec<&str> = flags.names().collect();
        put_array_header(out, names.len());
        for name in names {
            put_simple(out, name.as_bytes());
        }
    }
}

/// The group COMMAND DOCS names for a command, as Redis groups them.
fn command_group(spec: &CommandSpec) -> &'static str {
    if spec.categories.intersects(STRING) {
        "string"
    } else if spec.categories.intersects(HASH) {
        "hash"
    } else if spec.categories.intersects(KEYSPACE) {
        "generic"
    } else if spec.categories.intersects(TRANSACTION) {
        "transactions"
    } else if spec.categories.intersects(CONNECTION) || spec.cmd == Cmd::Client {
        "connection"
    } else {
        "server"
    }
}

/// One command in COMMAND INFO's format (Redis 7): name, arity, flags, first key, last
/// key, step, ACL categories, tips, key specs (none given), subcommands.
fn put_command_info(out: &mut Vec<u8>, spec: &CommandSpec) {
    put_array_header(out, 10);
    put_bulk(out, spec.name.as_bytes());
    put_integer(out, i64::from(spec.arity));
    let flags: Vec<&[u8]> = [
        (spec.class == Class::Write, b"write" as &[u8]),
        (spec.denyoom, b"denyoom"),
        (spec.class == Class::Read && spec.cmd != Cmd::Time, b"readonly"),
        (spec.categories.intersects(FAST), b"fast"),
    ]
    .into_iter()
    .filter_map(|(holds, flag)| holds.then_some(flag))
    .collect();
    put_array_header(out, flags.len());
    for flag in flags {
        put_simple(out, flag);
    }
    let (first, last, step) = spec.key_positions();
    for n in [first, last, step] {
        put_integer(out, n);
    }
    put_categories(out, spec.categories);
    put_array_header(out, 0);
    put_array_header(out, 0);
    let subs: Vec<_> = SUBCOMMANDS.iter().filter(|sub| sub.parent == spec.cmd).collect();
    put_array_header(out, subs.len());
    for sub in subs {
        put_array_header(out, 10);
        put_bulk(out, format!("{}|{}", spec.name, sub.name).as_bytes());
        put_integer(out, -2);
        put_array_header(out, 0);
        for n in [0, 0, 0] {
            put_integer(out, n);
        }
        put_categories(out, sub.categories);
        for _ in 0..3 {
            put_array_header(out, 0);
        }
    }
}

fn put_categories(out: &mut Vec<u8>, categories: Categories) {
    let names: Vec<&str> = categories.names().collect();
    put_array_header(out, names.len());
    for name in names {
        put_simple(out, format!("@{name}").as_bytes());
    }
}

fn config_command(client: &ClientState, args: &[&[u8]], out: &mut Vec<u8>) {
    let sub = args[1];
    if eq_nocase(sub, b"get") {
        if args.len() < 3 {
            return put_error(out, &arity_error("config|get"));
        }
        let max_bulk = client.max_value_bytes.to_string();
        let params: [(&str, &str); 5] = [
            ("save", ""),
            ("appendonly", "no"),
            ("maxmemory", "0"),
            ("databases", "1"),
            ("proto-max-bulk-len", &max_bulk),
        ];
        let matching: Vec<_> = params
            .iter()
            .filter(|(name, _)| args[2..].iter().any(|pattern| glob_match(pattern, name.as_bytes(), true)))
            .collect();
        put_map_header(out, matching.len(), client.protocol);
        for (name, value) in matching {
            put_bulk(out, name.as_bytes());
            put_bulk(out, value.as_bytes());
        }
    } else if eq_nocase(sub, b"resetstat") && args.len() == 2 {
        put_ok(out);
    } else if eq_nocase(sub, b"set") {
        put_error(out, b"ERR CONFIG SET is not supported");
    } else {
        unknown_subcommand(out, "config", sub);
    }
}
