//! Authentication and the ACL commands of a session: `AUTH [username] password`, HELLO's
//! `AUTH` option, `ACL WHOAMI | LIST | USERS | CAT [category]`, and the check that a session's
//! user may run a command, with Redis 7.0's exact errors. Users are fixed by the server's
//! configuration: `ACL SETUSER` and the other subcommands that change them are refused.

use super::acl::{CommandSet, Users, DEFAULT_USER};
use super::acl_category::{Categories, CATEGORY_NAMES};
use super::acl_rules::{category_commands, describe};
use super::answer::ClientState;
use super::command::{arity_error, lookup, lookup_subcommand, permission_name, Cmd, CommandSpec, PermissionIndex};
use super::exec::eq_nocase;
use crate::codec::resp::{put_array_header, put_bulk, put_error, put_ok};
use std::ops::Range;
use std::sync::Arc;

pub const NOAUTH: &[u8] = b"NOAUTH Authentication required.";
pub const NOAUTH_HELLO: &[u8] = b"NOAUTH HELLO must be called with the client already authenticated, otherwise the \
HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the \
same time";
pub const WRONGPASS: &[u8] = b"WRONGPASS invalid username-password pair or user is disabled.";
const NO_PASSWORD_CONFIGURED: &[u8] = b"ERR AUTH <password> called without any password configured for the default \
user. Are you sure your configuration is correct?";
const NOPERM_KEYS: &[u8] = b"NOPERM this user has no permissions to access one of the keys used as arguments";
const USERS_IN_FILE: &str =
    "users are read from the cluster file's [auth] table: change them there and restart the nodes";

/// Who a session is, as far as permissions go.
#[derive(Clone, Debug)]
pub struct Login {
    pub users: Arc<Users>,
    /// The index of the user the connection is authenticated as; None until it is.
    pub user: Option<usize>,
    /// What the connection may run now (checked once per command).
    pub allowed: CommandSet,
}

impl Default for Login {
    fn default() -> Login {
        Login::new(Arc::new(Users::default()))
    }
}

impl Login {
    /// A new connection: the default user when that needs no password (Redis's rule),
    /// otherwise nobody until AUTH.
    pub fn new(users: Arc<Users>) -> Login {
        if users.auth_required() {
            Login { users, user: None, allowed: CommandSet::NO_AUTH }
        } else {
            let allowed = users.default_user().allowed();
            Login { users, user: Some(0), allowed }
        }
    }

    /// Authenticates as `name`; a failure changes nothing (as in Redis).
    pub fn log_in(&mut self, name: &[u8], password: &[u8]) -> bool {
        let Some(index) = self.users.authenticate(name, password) else { return false };
        self.user = Some(index);
        self.allowed = self.users.get(index).allowed();
        true
    }

    /// The name of the user, `default` before authentication (as CLIENT LIST shows it).
    pub fn user_name(&self) -> &str {
        self.user.map_or(DEFAULT_USER, |index| &self.users.get(index).name)
    }

    /// The error for the command `spec` (arity checked; `ranges` index its arguments in
    /// `input`) if the user may not run it: a container (and COMMAND with an argument) is
    /// checked by its subcommand (an
    /// unknown one is left to its answer, as Redis tells it before any ACL check), and
    /// SENATE.EXEC by the command it wraps too. Kept apart from the hot path.
    #[cold]
    #[inline(never)]
    pub fn refusal_of(&self, spec: &CommandSpec, input: &[u8], ranges: &[Range<usize>]) -> Option<Vec<u8>> {
        let arg = |i: usize| &input[ranges[i].clone()];
        let by_subcommand = spec.container || (spec.cmd == Cmd::Command && ranges.len() > 1);
        let index = if by_subcommand { lookup_subcommand(spec.cmd, arg(1))? } else { spec.cmd.index() };
        if !self.allowed.contains(index) {
            return Some(self.refusal(index));
        }
        if spec.cmd == Cmd::SenateExec {
            let wrapped = lookup(arg(4))?.cmd.index();
            if !self.allowed.contains(wrapped) {
                return Some(self.refusal(wrapped));
            }
        }
        None
    }

    /// The error for a command of `index` that `allowed` refused.
    fn refusal(&self, index: PermissionIndex) -> Vec<u8> {
        match self.user {
            None => NOAUTH.to_vec(),
            Some(user) if self.users.get(user).commands.contains(index) => NOPERM_KEYS.to_vec(),
            Some(_) => format!("NOPERM this user has no permissions to run the '{}' command", permission_name(index))
                .into_bytes(),
        }
    }
}

/// `AUTH password` (the default user) or `AUTH username password`.
pub fn auth(client: &mut ClientState, args: &[&[u8]], out: &mut Vec<u8>) {
    let (name, password) = match args {
        [_, password] => {
            if client.login.users.default_user().nopass {
                return put_error(out, NO_PASSWORD_CONFIGURED);
            }
            (DEFAULT_USER.as_bytes(), *password)
        }
        [_, name, password] => (*name, *password),
        _ => return put_error(out, b"ERR syntax error"),
    };
    if client.login.log_in(name, password) {
        put_ok(out);
    } else {
        put_error(out, WRONGPASS);
    }
}

/// `ACL <subcommand> ...` (the subcommand's permission already checked).
pub fn acl(client: &ClientState, args: &[&[u8]], out: &mut Vec<u8>) {
    let sub = args[1].to_ascii_lowercase();
    let arity_ok = match &sub[..] {
        b"whoami" | b"list" | b"users" | b"save" | b"load" => args.len() == 2,
        b"cat" => args.len() <= 3,
        b"setuser" | b"deluser" => args.len() >= 3,
        b"getuser" | b"log" | b"dryrun" | b"genpass" | b"help" => true,
        _ => return super::answer::unknown_subcommand(out, "acl", args[1]),
    };
    if !arity_ok {
        return put_error(out, &arity_error(&format!("acl|{}", String::from_utf8_lossy(&sub))));
    }
    let users = &client.login.users;
    match &sub[..] {
        b"whoami" => put_bulk(out, client.login.user_name().as_bytes()),
        b"list" => put_lines(out, sorted(users).map(describe)),
        b"users" => put_lines(out, sorted(users).map(|user| user.name.clone())),
        b"cat" => match args.get(2) {
            None => put_lines(out, CATEGORY_NAMES.iter().map(|name| name.to_string())),
            Some(name) => match std::str::from_utf8(name).ok().and_then(Categories::named) {
                Some(category) => put_lines(out, category_commands(category).into_iter()),
                None => {
                    let mut message = b"ERR Unknown category '".to_vec();
                    message.extend_from_slice(name);
                    message.push(b'\'');
                    put_error(out, &message);
                }
            },
        },
        b"setuser" | b"deluser" | b"save" | b"load" => put_error(out, format!("ERR {USERS_IN_FILE}").as_bytes()),
        _ => {
            let message = format!("ERR ACL {} is not supported", String::from_utf8_lossy(&sub).to_ascii_uppercase());
            put_error(out, message.as_bytes());
        }
    }
}

/// The users by name, as Redis lists them.
fn sorted(users: &Users) -> impl ExactSizeIterator<Item = &super::acl::User> {
    let mut all: Vec<_> = users.iter().collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all.into_iter()
}

fn put_lines(out: &mut Vec<u8>, lines: impl ExactSizeIterator<Item = String>) {
    put_array_header(out, lines.len());
    for line in lines {
        put_bulk(out, line.as_bytes());
    }
}

/// HELLO's `AUTH username password`: true when it authenticated (else WRONGPASS is answered).
pub fn hello_auth(client: &mut ClientState, name: &[u8], password: &[u8], out: &mut Vec<u8>) -> bool {
    let ok = client.login.log_in(name, password);
    if !ok {
        put_error(out, WRONGPASS);
    }
    ok
}

/// Whether `word` is HELLO's AUTH option.
pub fn is_auth_option(word: &[u8]) -> bool {
    eq_nocase(word, b"auth")
}
