//! ACL users in a session: NOAUTH before AUTH, WRONGPASS, NOPERM (also for the command that
//! SENATE.EXEC wraps), HELLO's AUTH option, and the ACL commands. The expected errors are the
//! bytes redis-server 7.0.15 sends for the same users (tests/test_kv_acl.py compares them live).

use senate_core::codec::RespLimits;
use senate_core::kv::{apply_batch, read_batch, Group, KvStore, RespSession, Users};
use std::sync::Arc;

/// `printf secret | sha256sum`.
const SECRET: &str = "#2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
const NOAUTH: &str = "-NOAUTH Authentication required.\r\n";
const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";

fn users() -> Arc<Users> {
    let lines = [
        format!("user default on {SECRET} ~* +@all"),
        format!("user app on {SECRET} ~* +@read +@write -@dangerous"),
        format!("user ro on {SECRET} ~* +@read +senate.exec +senate.session"),
        format!("user gone off {SECRET} ~* +@all"),
        "user nokeys on nopass +@all".to_string(),
        "user nocount on nopass ~* +@all -command|count -client|list".to_string(),
    ];
    Arc::new(Users::new(&lines, None).unwrap())
}

fn session(users: Arc<Users>) -> RespSession {
    RespSession::new(RespLimits::default(), 1024, 7).unwrap().with_users(users)
}

/// Feeds one command and runs what it gives as the server would; the replies as text.
fn ask(s: &mut RespSession, store: &mut KvStore, line: &str) -> String {
    let mut out = Vec::new();
    for group in s.feed(format!("{line}\r\n").as_bytes(), 1) {
        match group {
            Group::Reply(b) | Group::Close(b) => out.extend_from_slice(&b),
            Group::Log(b) => out.extend(apply_batch(store, &b).unwrap()),
            Group::Read(b) | Group::StaleRead(b) => out.extend(read_batch(store, &b, 1).unwrap()),
            Group::Node(_) => out.extend_from_slice(b"(node)"),
            Group::Watch(b) => {
                let versions = read_batch(store, &b, 1).unwrap();
                out.extend(s.watched(&versions));
            }
            Group::ExecLog(b) => {
                let replies = apply_batch(store, &b).unwrap();
                out.extend(s.executed(&replies));
            }
            Group::ExecRead(b) => {
                let replies = read_batch(store, &b, 1).unwrap();
                out.extend(s.executed(&replies));
            }
            Group::ExecNode(_) => out.extend_from_slice(b"(node)"),
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn without_users_every_connection_is_the_nopass_default_user() {
    let (mut s, mut store) = (RespSession::new(RespLimits::default(), 1024, 7).unwrap(), KvStore::default());
    assert!(s.authenticated());
    assert_eq!(ask(&mut s, &mut store, "SET k v"), "+OK\r\n");
    assert_eq!(ask(&mut s, &mut store, "FLUSHDB"), "+OK\r\n");
    assert_eq!(ask(&mut s, &mut store, "ACL WHOAMI"), "$7\r\ndefault\r\n");
    assert_eq!(
        ask(&mut s, &mut store, "AUTH x"),
        "-ERR AUTH <password> called without any password configured for the default user. Are you sure your \
         configuration is correct?\r\n"
    );
    assert_eq!(ask(&mut s, &mut store, "AUTH default anything"), "+OK\r\n");
    assert_eq!(ask(&mut s, &mut store, "ACL LIST"), "*1\r\n$31\r\nuser default on nopass ~* +@all\r\n");
    assert!(ask(&mut s, &mut store, "HELLO 3 AUTH default x").starts_with("%7\r\n"));
}

#[test]
fn before_auth_only_auth_hello_and_quit_run() {
    let (mut s, mut store) = (session(users()), KvStore::default());
    assert!(!s.authenticated());
    for line in ["PING", "GET k", "SET k v", "INFO", "ACL WHOAMI", "CLIENT ID", "SENATE.EXEC 1 1 0 SET k v"] {
        assert_eq!(ask(&mut s, &mut store, line), NOAUTH, "{line}");
    }
    assert_eq!(
        ask(&mut s, &mut store, "HELLO 3"),
        "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> \
         <pass> option can be used to authenticate the client and select the RESP protocol version at the same \
         time\r\n"
    );
    // As in Redis, an unknown command and a wrong arity are told before authentication.
    assert!(ask(&mut s, &mut store, "NOSUCH").starts_with("-ERR unknown command 'NOSUCH'"));
    assert_eq!(ask(&mut s, &mut store, "GET"), "-ERR wrong number of arguments for 'get' command\r\n");
    assert_eq!(ask(&mut s, &mut store, "AUTH wrong"), WRONGPASS);
    assert_eq!(ask(&mut s, &mut store, "AUTH a b c"), "-ERR syntax error\r\n");
    assert_eq!(ask(&mut s, &mut store, "AUTH secret"), "+OK\r\n");
    assert_eq!(ask(&mut s, &mut store, "PING"), "+PONG\r\n");
    assert_eq!(s.user_name(), "default");
    assert_eq!(ask(&mut s, &mut store, "QUIT"), "+OK\r\n");
    assert!(s.is_closed());
}

#[test]
fn quit_needs_no_authentication() {
    let (mut s, mut store) = (session(users()), KvStore::default());
    assert_eq!(ask(&mut s, &mut store, "QUIT"), "+OK\r\n");
}

#[test]
fn a_bad_pair_or_a_disabled_user_gets_wrongpass_and_keeps_the_login() {
    let (mut s, mut store) = (session(users()), KvStore::default());
    assert_eq!(ask(&mut s, &mut store, "AUTH app secret"), "+OK\r\n");
    for line in ["AUTH app nope", "AUTH gone secret", "AUTH nobody secret", "HELLO 3 AUTH app nope"] {
        assert_eq!(ask(&mut s, &mut store, line), WRONGPASS, "{line}");
    }
    assert_eq!(s.user_name(), "app");
    assert_eq!(s.protocol().version(), 2, "a refused HELLO changes nothing");
    assert_eq!(ask(&mut s, &mut store, "SET k v"), "+OK\r\n");
}

#[test]
fn refused_commands_get_redis_7_0_noperm() {
    let (mut s, mut store) = (session(users()), KvStore::default());
    ask(&mut s, &mut store, "AUTH app secret");
    let noperm = |name: &str| format!("-NOPERM this user has no permissions to run the '{name}' command\r\n");
    assert_eq!(ask(&mut s, &mut store, "FLUSHDB"), noperm("flushdb"));
    assert_eq!(ask(&mut s, &mut store, "KEYS *"), noperm("keys"));
    assert_eq!(ask(&mut s, &mut store, "PING"), noperm("ping"));
    assert_eq!(ask(&mut s, &mut store, "ACL LIST"), noperm("acl|list"));
    assert_eq!(ask(&mut s, &mut store, "ACL WHOAMI"), noperm("acl|whoami"));
    assert_eq!(ask(&mut s, &mut store, "CLIENT LIST"), noperm("client|list"));
    assert_eq!(ask(&mut s, &mut store, "CONFIG GET save"), noperm("config|get"));
    assert_eq!(ask(&mut s, &mut store, "INFO"), noperm("info"));
    // An unknown subcommand is told as such, before any permission.
    assert_eq!(ask(&mut s, &mut store, "CLIENT NOSUCH"), "-ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.\r\n");
    assert_eq!(ask(&mut s, &mut store, "GET k"), "$-1\r\n");
    // SENATE.EXEC is checked, and so is the command it wraps.
    assert_eq!(ask(&mut s, &mut store, "SENATE.SESSION OPEN"), ":1\r\n");
    assert_eq!(ask(&mut s, &mut store, "SENATE.EXEC 1 1 0 FLUSHDB"), noperm("flushdb"));
    assert_eq!(ask(&mut s, &mut store, "SENATE.EXEC 1 1 0 SET k v"), "+OK\r\n");
    ask(&mut s, &mut store, "AUTH ro secret");
    assert_eq!(ask(&mut s, &mut store, "SENATE.EXEC 1 2 1 SET k w"), noperm("set"));
    assert_eq!(ask(&mut s, &mut store, "SET k w"), noperm("set"));
    assert_eq!(ask(&mut s, &mut store, "GET k"), "$1\r\nv\r\n");
}

#[test]
fn subcommands_are_checked_by_their_own_bit() {
    let (mut s, mut store) = (session(users()), KvStore::default());
    ask(&mut s, &mut store, "AUTH nocount x");
    let noperm = |name: &str| format!("-NOPERM this user has no permissions to run the '{name}' command\r\n");
    assert_eq!(ask(&mut s, &mut store, "COMMAND COUNT"), noperm("command|count"));
    assert_eq!(ask(&mut s, &mut store, "CLIENT LIST"), noperm("client|list"));
    assert!(ask(&mut s, &mut store, "COMMAND").starts_with("*84\r\n*10\r\n$3\r\nset\r\n"));
    assert!(ask(&mut s, &mut store, "COMMAND LIST").starts_with("*84\r\n"));
    assert_eq!(ask(&mut s, &mut store, "CLIENT ID"), ":7\r\n");
}

#[test]
fn a_user_without_all_keys_runs_no_command_that_names_a_key() {
    let (mut s, mut store) = (session(users()), KvStore::default());
    ask(&mut s, &mut store, "AUTH nokeys x");
    assert_eq!(
        ask(&mut s, &mut store, "GET k"),
        "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
    );
    assert_eq!(ask(&mut s, &mut store, "DBSIZE"), ":0\r\n");
}

#[test]
fn hello_auth_authenticates_switches_and_names_at_once() {
    let (mut s, mut store) = (session(users()), KvStore::default());
    let reply = ask(&mut s, &mut store, "HELLO 3 AUTH app secret SETNAME n1");
    assert!(reply.starts_with("%7\r\n$6\r\nserver\r\n"), "{reply}");
    assert_eq!((s.user_name(), s.protocol().version(), s.name()), ("app", 3, Some(&b"n1"[..])));
}

#[test]
fn admins_see_the_users_and_client_info_shows_the_user() {
    let (mut s, mut store) = (session(users()), KvStore::default());
    ask(&mut s, &mut store, "AUTH default secret");
    let list = ask(&mut s, &mut store, "ACL LIST");
    assert!(list.starts_with("*6\r\n$"), "{list}");
    assert!(list.contains(&format!("user app on {SECRET} ~* -@all +@read +@write -@dangerous\r\n")), "{list}");
    assert!(list.contains("user gone off "), "{list}");
    assert_eq!(
        ask(&mut s, &mut store, "ACL USERS"),
        "*6\r\n$3\r\napp\r\n$7\r\ndefault\r\n$4\r\ngone\r\n$7\r\nnocount\r\n$6\r\nnokeys\r\n$2\r\nro\r\n"
    );
    assert!(ask(&mut s, &mut store, "ACL CAT").starts_with("*21\r\n$8\r\nkeyspace\r\n"));
    assert!(ask(&mut s, &mut store, "ACL CAT dangerous").contains("$7\r\nflushdb\r\n"));
    assert_eq!(ask(&mut s, &mut store, "ACL CAT nope"), "-ERR Unknown category 'nope'\r\n");
    assert!(ask(&mut s, &mut store, "ACL SETUSER x on").starts_with("-ERR users are read from the cluster file"));
    assert_eq!(ask(&mut s, &mut store, "ACL WHOAMI x"), "-ERR wrong number of arguments for 'acl|whoami' command\r\n");
    assert!(ask(&mut s, &mut store, "CLIENT INFO").contains(" user=default "));
    ask(&mut s, &mut store, "AUTH ro secret");
    assert_eq!(
        ask(&mut s, &mut store, "ACL WHOAMI"),
        "-NOPERM this user has no permissions to run the 'acl|whoami' command\r\n"
    );
}
