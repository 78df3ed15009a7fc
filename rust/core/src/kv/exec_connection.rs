//! The connection commands of a transaction (SELECT, CLIENT, HELLO, AUTH, COMMAND, CONFIG,
//! ACL, READONLY, READWRITE queued between MULTI and EXEC), run when EXEC is parsed, in queue
//! order, on a copy of the connection's state, as Redis runs them at EXEC: each one sees what
//! the ones before it did (CLIENT GETNAME after CLIENT SETNAME), HELLO switches the protocol of
//! the replies after it, AUTH the user whose permissions the commands after it need (Redis
//! checks them again at EXEC: `-NOPERM ACLs rules changed ...`). Their replies (and INFO's)
//! stay in the session: the transaction's batch carries an empty [`LITERAL`] in each one's
//! place (with the protocol the replies after it take), which the store answers with nothing
//! but counts in EXEC's array, and [`splice_replies`] puts the replies in their places when
//! the store's array comes back. Only the client's node needs them: the log entry holds the
//! queued data commands and a few bytes per connection command (COMMAND's reply is ~10 KB;
//! 1,024 of them queued made a ~10 MB entry that every node wrote). The copy becomes the
//! connection's state once the store ran the transaction (`RespSession::executed`): a
//! transaction that a watched key aborts changes nothing.
//!
//! Nothing between MULTI and EXEC changes the connection (a command is queued or refused,
//! and a refusal aborts the transaction), so the state at EXEC is the state at MULTI and
//! running them before the data commands changes no reply.

use super::answer::{answer, ClientState};
use super::batch::{encode_transaction, put_command, BatchReader};
use super::command::{lookup, Class};
use super::transaction::{store_answers, LITERAL};
use crate::codec::resp::{parse_i64, put_error, reply_end, Protocol};
use std::ops::Range;

const NOPERM_CHANGED: &str = "NOPERM ACLs rules changed between the moment the transaction was accumulated and the \
EXEC call. This command is no longer allowed for the following reason: ";

/// The replies of a transaction's connection commands: (the command's place in the queue,
/// its reply), in queue order.
pub type PlacedReplies = Vec<(usize, Vec<u8>)>;

/// What running a transaction's connection commands gives: the body to run in the store
/// (an empty literal in each one's place), their replies, and the connection's state after
/// them.
pub struct ConnectionRun {
    pub body: Vec<u8>,
    pub replies: PlacedReplies,
    pub client: ClientState,
}

/// Calls `f` with each of the `count` commands of `body` (as a queue holds them); false if
/// `body` does not decode (it always does: the session built it).
pub fn for_each_command(body: &[u8], count: usize, mut f: impl FnMut(&[&[u8]])) -> bool {
    let batch = encode_transaction(0, Protocol::Resp2, &[], body, count);
    let Ok(mut reader) = BatchReader::new(&batch) else { return false };
    let mut args = Vec::with_capacity(8);
    while reader.next_into(&mut args) {
        f(&args);
    }
    true
}

/// Runs the connection commands of the `count` commands of `body` (as a queue holds them) on
/// a copy of `client`, INFO answered by `node_replies` in order (what the node answered when
/// it read the EXEC: its store as applied then, before the transaction, where Redis runs INFO
/// in its place); None if `body` does not decode.
pub fn run_connection_commands(
    client: &ClientState,
    body: &[u8],
    count: usize,
    node_replies: &[Vec<u8>],
) -> Option<ConnectionRun> {
    let batch = encode_transaction(0, Protocol::Resp2, &[], body, count);
    let mut reader = BatchReader::new(&batch).ok()?;
    let mut node_replies = node_replies.iter();
    let mut scratch = client.clone();
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut replies = Vec::new();
    let mut args = Vec::with_capacity(8);
    let mut place = 0;
    while reader.next_into(&mut args) {
        let spec = lookup(args[0])?;
        let at = place;
        place += 1;
        let mut reply = Vec::new();
        if scratch.login.user != client.login.user {
            if let Some(reason) = refusal_at_exec(&scratch, spec, &args) {
                put_error(&mut reply, format!("{NOPERM_CHANGED}{reason}").as_bytes());
                put_command(&mut out, 2, [LITERAL, &[][..]].into_iter());
                replies.push((at, reply));
                continue;
            }
        }
        if spec.class == Class::Node {
            match node_replies.next() {
                Some(node_reply) => reply.extend_from_slice(node_reply),
                None => put_error(&mut reply, b"ERR the node did not answer"),
            }
            put_command(&mut out, 2, [LITERAL, &[][..]].into_iter());
            replies.push((at, reply));
            continue;
        }
        if spec.class != Class::Session || store_answers(spec.cmd) {
            put_command(&mut out, args.len(), args.iter().copied());
            continue;
        }
        let protocol = scratch.protocol;
        answer(&mut scratch, spec.cmd, &args, &mut reply);
        if scratch.protocol == protocol {
            put_command(&mut out, 2, [LITERAL, &[][..]].into_iter());
        } else {
            let version = [scratch.protocol.version()];
            put_command(&mut out, 3, [LITERAL, &[][..], &version[..]].into_iter());
        }
        replies.push((at, reply));
    }
    Some(ConnectionRun { body: out, replies, client: scratch })
}

/// EXEC's reply: the store's array for a transaction (`*N`, nothing in the places of the
/// connection commands) with each of their `replies` put in its place; a null array or an
/// error as it is. None if the array does not decode or its places do not match (it always
/// does: the store built it from the batch the session built).
pub fn splice_replies(store_reply: &[u8], replies: &[(usize, Vec<u8>)]) -> Option<Vec<u8>> {
    if !store_reply.starts_with(b"*") || store_reply.starts_with(b"*-1") {
        return Some(store_reply.to_vec());
    }
    let header_end = store_reply.windows(2).position(|w| w == b"\r\n")? + 2;
    let count = usize::try_from(parse_i64(&store_reply[1..header_end - 2])?).ok()?;
    let extra: usize = replies.iter().map(|(_, reply)| reply.len()).sum();
    let mut out = Vec::with_capacity(store_reply.len() + extra);
    out.extend_from_slice(&store_reply[..header_end]);
    let mut pos = header_end;
    let mut replies = replies.iter().peekable();
    for place in 0..count {
        if let Some((_, reply)) = replies.next_if(|(at, _)| *at == place) {
            out.extend_from_slice(reply);
        } else {
            let end = reply_end(store_reply, pos).ok()??;
            out.extend_from_slice(&store_reply[pos..end]);
            pos = end;
        }
    }
    (pos == store_reply.len() && replies.next().is_none()).then_some(out)
}

/// Why the user of `scratch` may no longer run `args` (Redis's reasons), if it may not.
fn refusal_at_exec(scratch: &ClientState, spec: &super::command::CommandSpec, args: &[&[u8]]) -> Option<&'static str> {
    let mut input = Vec::new();
    let mut ranges: Vec<Range<usize>> = Vec::with_capacity(args.len());
    for arg in args {
        ranges.push(input.len()..input.len() + arg.len());
        input.extend_from_slice(arg);
    }
    let error = scratch.login.refusal_of(spec, &input, &ranges)?;
    Some(if error.starts_with(b"NOPERM this user has no permissions to access one of the keys") {
        "no permission to touch the specified keys"
    } else {
        "no permission to execute the command or subcommand"
    })
}
