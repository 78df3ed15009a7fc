//! `RespSession`: one client connection's protocol state. [`RespSession::feed`] parses every
//! complete command of the received bytes and hands back [`Group`]s, in command order: replies
//! to send at once, batches to replicate through the log, batches of reads to run after a read
//! barrier (or at once, on a READONLY connection), node commands, and a final close.

use super::acl::Users;
use super::acl_command::Login;
use super::answer::{answer, ClientState};
use super::batch::{encode_transaction, BatchBuilder, BatchReader, Watch};
use super::command::{arity_error, lookup, subcommand_error, unknown_command_error, Class, Cmd, CommandSpec};
use super::error::{KvError, Result};
use super::exec_connection::{for_each_command, run_connection_commands, splice_replies, PlacedReplies};
use super::transaction::{
    parse_watch_reply, reply_without_store, store_answers, Queue, EXECABORT, EXECABORT_OOM, NOT_IN_TRANSACTION,
};
use crate::codec::resp::{
    parse_bulk_header, parse_command, put_array_header, put_error, put_ok, put_simple, ParseStep, Protocol,
};
use crate::codec::{RespError, RespLimits};
use std::ops::Range;
use std::sync::Arc;

/// Default most commands in one Log or Read batch.
pub const DEFAULT_MAX_BATCH_COMMANDS: usize = 1024;
/// The largest `max_batch_commands` accepted (the batch count is a `u32`).
pub const MAX_BATCH_COMMANDS: usize = 1 << 20;
/// A query buffer whose capacity passes this is shrunk to its contents once at most half of
/// it is used (and an empty one freed): a client that sent one large value does not keep its
/// memory while idle.
const SHRINK_ABOVE_BYTES: usize = 64 << 10;
/// Redis's reply to a write refused while the store is over `maxmemory`.
pub const OOM_ERROR: &[u8] = b"OOM command not allowed when used memory > 'maxmemory'.";

pub const GROUP_REPLY: u8 = 0;
pub const GROUP_LOG: u8 = 1;
pub const GROUP_READ: u8 = 2;
pub const GROUP_STALE_READ: u8 = 3;
pub const GROUP_NODE: u8 = 4;
pub const GROUP_CLOSE: u8 = 5;
pub const GROUP_WATCH: u8 = 6;
pub const GROUP_EXEC_LOG: u8 = 7;
pub const GROUP_EXEC_READ: u8 = 8;
pub const GROUP_EXEC_NODE: u8 = 9;
/// Most keys a connection watches at once (`-ERR` past it).
pub const MAX_WATCHED_KEYS: usize = 1024;

/// One step of the output of a feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Group {
    /// Bytes to send as they are (session commands, errors); adjacent replies are merged.
    Reply(Vec<u8>),
    /// An encoded batch with at least one write: replicate it through the log, then send
    /// the replies of [`apply_batch`](super::apply_batch).
    Log(Vec<u8>),
    /// An encoded batch of reads: run it after a linearizable read barrier.
    Read(Vec<u8>),
    /// An encoded batch of reads of a READONLY connection: run it at once.
    StaleRead(Vec<u8>),
    /// One encoded single-command batch for the node (INFO).
    Node(Vec<u8>),
    /// Send these bytes, then close the connection. Always the last group.
    Close(Vec<u8>),
    /// An encoded one-command batch (WATCH): run it after a read barrier (or through the
    /// log after the connection's writes in flight), hand its reply to
    /// [`RespSession::watched`] and send what that returns. Always the last group: the
    /// session parses nothing more until then.
    Watch(Vec<u8>),
    /// A transaction's batch with a write and connection commands (`exec_connection`):
    /// replicate it as a Log batch, hand its reply to [`RespSession::executed`] (which puts
    /// their replies in their places) and send what that returns. Always the last group: the
    /// session parses nothing more until then.
    ExecLog(Vec<u8>),
    /// The same for a transaction of reads: run it as a Watch batch is.
    ExecRead(Vec<u8>),
    /// The INFO commands a transaction queued, as one batch: hand their replies, in order,
    /// to [`RespSession::node_replied`], then feed again; the EXEC runs then. Always the last
    /// group.
    ExecNode(Vec<u8>),
}

impl Group {
    /// The `GROUP_*` constant of this group.
    pub fn kind(&self) -> u8 {
        match self {
            Group::Reply(_) => GROUP_REPLY,
            Group::Log(_) => GROUP_LOG,
            Group::Read(_) => GROUP_READ,
            Group::StaleRead(_) => GROUP_STALE_READ,
            Group::Node(_) => GROUP_NODE,
            Group::Close(_) => GROUP_CLOSE,
            Group::Watch(_) => GROUP_WATCH,
            Group::ExecLog(_) => GROUP_EXEC_LOG,
            Group::ExecRead(_) => GROUP_EXEC_READ,
            Group::ExecNode(_) => GROUP_EXEC_NODE,
        }
    }

    pub fn payload(&self) -> &[u8] {
        match self {
            Group::Reply(b)
            | Group::Log(b)
            | Group::Read(b)
            | Group::StaleRead(b)
            | Group::Node(b)
            | Group::Close(b)
            | Group::Watch(b)
            | Group::ExecLog(b)
            | Group::ExecRead(b)
            | Group::ExecNode(b) => b,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BatchKind {
    Log,
    Read,
    StaleRead,
}

/// The group being filled.
enum Open {
    Nothing,
    Reply(Vec<u8>),
    Batch(BatchKind, BatchBuilder),
}

/// The groups of one feed.
struct Groups {
    done: Vec<Group>,
    open: Open,
    now_ms: u64,
    max_batch_commands: usize,
    /// A write was batched in this feed: later reads of the feed join Log batches, so that
    /// a pipelined `SET k v; GET k` reads its own write.
    wrote: bool,
}

impl Groups {
    fn new(now_ms: u64, max_batch_commands: usize) -> Groups {
        Groups { done: Vec::new(), open: Open::Nothing, now_ms, max_batch_commands, wrote: false }
    }

    fn close_open(&mut self) {
        match std::mem::replace(&mut self.open, Open::Nothing) {
            Open::Nothing => {}
            Open::Reply(bytes) => self.done.push(Group::Reply(bytes)),
            Open::Batch(kind, builder) => {
                let batch = builder.finish();
                self.done.push(match kind {
                    BatchKind::Log => Group::Log(batch),
                    BatchKind::Read => Group::Read(batch),
                    BatchKind::StaleRead => Group::StaleRead(batch),
                });
            }
        }
    }

    /// The open reply buffer (adjacent replies merge into one group).
    fn reply(&mut self) -> &mut Vec<u8> {
        if !matches!(self.open, Open::Reply(_)) {
            self.close_open();
            self.open = Open::Reply(Vec::new());
        }
        match &mut self.open {
            Open::Reply(bytes) => bytes,
            _ => unreachable!("a reply group was just opened"),
        }
    }

    /// The open batch of `kind` with replies in `protocol`, a new one when it is full or
    /// differs.
    fn batch(&mut self, kind: BatchKind, protocol: Protocol) -> &mut BatchBuilder {
        let max = self.max_batch_commands;
        let reusable = matches!(
            &self.open,
            Open::Batch(k, b) if *k == kind && b.protocol() == protocol && b.count() < max
        );
        if !reusable {
            self.close_open();
            self.open = Open::Batch(kind, BatchBuilder::new(self.now_ms, protocol));
        }
        match &mut self.open {
            Open::Batch(_, builder) => builder,
            _ => unreachable!("a batch group was just opened"),
        }
    }

    fn push_final(&mut self, group: Group) {
        self.close_open();
        self.done.push(group);
    }

    fn finish(mut self) -> Vec<Group> {
        self.close_open();
        self.done
    }
}

/// A command being skipped because one of its values exceeds `max_value_bytes`.
#[derive(Clone, Copy, Debug)]
struct Discard {
    /// Bytes of the current bulk string (data and CRLF) still to skip.
    skip_bytes: u64,
    /// Bulk strings of the command after the current one.
    args_left: usize,
}

/// One client connection.
pub struct RespSession {
    limits: RespLimits,
    max_batch_commands: usize,
    /// Received bytes not parsed yet: the start of an incomplete command.
    tail: Vec<u8>,
    discard: Option<Discard>,
    client: ClientState,
    /// A Close group was handed out: every later feed is ignored.
    closed: bool,
    /// Argument ranges of the command being parsed (reused).
    args: Vec<Range<usize>>,
    /// The store is over its `maxmemory`: `denyoom` writes get `-OOM` (set by the server
    /// before each feed, from the store of the node that proposes them).
    over_maxmemory: bool,
    /// The commands queued since MULTI, until EXEC or DISCARD (`transaction`).
    multi: Option<Queue>,
    /// The watched keys with their version and whether they were live, in WATCH order
    /// (at most `MAX_WATCHED_KEYS`).
    watches: Vec<(Vec<u8>, u64, bool)>,
    /// The keys of a WATCH whose versions the node is reading: nothing is parsed until
    /// `watched`.
    watch_pending: Option<Vec<Vec<u8>>>,
    /// The replies of the connection commands of a transaction whose batch is running
    /// (`Group::ExecLog`, `Group::ExecRead`), by place in the queue, and the connection's
    /// state after them: nothing is parsed until `executed`.
    exec_pending: Option<(PlacedReplies, ClientState)>,
    /// A transaction whose EXEC waits for its INFO replies (`Group::ExecNode`), and the
    /// replies once `node_replied` has them: the next feed runs the EXEC first.
    exec_node_pending: Option<Queue>,
    node_replies: Option<Vec<Vec<u8>>>,
}

impl RespSession {
    /// A session with `limits` (validated), at most `max_batch_commands` commands per batch,
    /// and the id the server gave the connection.
    pub fn new(limits: RespLimits, max_batch_commands: usize, client_id: u64) -> Result<RespSession> {
        limits.validate().map_err(|err| match err {
            RespError::InvalidLimits { field, problem } => KvError::InvalidLimits { field, problem },
            other => KvError::Resp(other),
        })?;
        if !(1..=MAX_BATCH_COMMANDS).contains(&max_batch_commands) {
            return Err(KvError::InvalidLimits { field: "max_batch_commands", problem: "must be in [1, 2^20]" });
        }
        let client = ClientState { id: client_id, max_value_bytes: limits.max_value_bytes, ..ClientState::default() };
        Ok(RespSession {
            limits,
            max_batch_commands,
            tail: Vec::new(),
            discard: None,
            client,
            closed: false,
            args: Vec::new(),
            over_maxmemory: false,
            multi: None,
            watches: Vec::new(),
            watch_pending: None,
            exec_pending: None,
            exec_node_pending: None,
            node_replies: None,
        })
    }

    /// The session with `users` (shared by every session of a server): it starts as their
    /// default user, or unauthenticated when that one is off or has passwords.
    pub fn with_users(mut self, users: Arc<Users>) -> RespSession {
        self.client.login = Login::new(users);
        self
    }

    /// The user the connection is authenticated as (`default` before it is).
    pub fn user_name(&self) -> &str {
        self.client.login.user_name()
    }

    /// Whether the connection has authenticated (or needed not to).
    pub fn authenticated(&self) -> bool {
        self.client.login.user.is_some()
    }

    pub fn name(&self) -> Option<&[u8]> {
        self.client.name.as_deref()
    }

    pub fn readonly(&self) -> bool {
        self.client.readonly
    }

    /// The protocol of the replies: RESP2 until the client sends `HELLO 3`.
    pub fn protocol(&self) -> Protocol {
        self.client.protocol
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Received bytes held until their command is complete.
    pub fn buffered_bytes(&self) -> usize {
        self.tail.len()
    }

    /// Whether the connection is in a transaction (between MULTI and EXEC or DISCARD).
    pub fn in_transaction(&self) -> bool {
        self.multi.is_some()
    }

    /// Keys the connection watches.
    pub fn watched_keys(&self) -> usize {
        self.watches.len()
    }

    /// Takes the reply of a `Group::Watch` batch: records the versions it gives and returns
    /// the reply to send (`+OK`, or the node's error as it is). Parsing resumes: the caller
    /// feeds the session again (empty bytes will do) for the commands held meanwhile.
    pub fn watched(&mut self, reply: &[u8]) -> Vec<u8> {
        let Some(keys) = self.watch_pending.take() else {
            let mut out = Vec::new();
            put_error(&mut out, b"ERR no WATCH is waiting for its versions");
            return out;
        };
        match parse_watch_reply(reply, keys.len()) {
            Some(versions) => {
                self.watches.extend(keys.into_iter().zip(versions).map(|(key, (version, live))| (key, version, live)));
                b"+OK\r\n".to_vec()
            }
            None if reply.starts_with(b"-") => reply.to_vec(),
            None => {
                let mut out = Vec::new();
                put_error(&mut out, b"ERR WATCH could not read the keys' versions");
                out
            }
        }
    }

    /// Takes the reply of a `Group::ExecLog` or `Group::ExecRead` batch and returns the
    /// reply to send: the transaction ran (an array), so the replies of its connection
    /// commands go into their places (`splice_replies`) and the state they left becomes the
    /// connection's; an aborted one (a null array) or an error is sent as it is and changes
    /// nothing. Parsing resumes, as after `watched`.
    pub fn executed(&mut self, reply: &[u8]) -> Vec<u8> {
        let Some((replies, client)) = self.exec_pending.take() else {
            let mut out = Vec::new();
            put_error(&mut out, b"ERR no EXEC is waiting for its replies");
            return out;
        };
        if !reply.starts_with(b"*") || reply.starts_with(b"*-1") {
            return reply.to_vec();
        }
        match splice_replies(reply, &replies) {
            Some(out) => {
                self.client = client;
                out
            }
            None => {
                let mut out = Vec::new();
                put_error(&mut out, b"ERR the transaction's reply does not decode");
                out
            }
        }
    }

    /// Takes the replies of a `Group::ExecNode` batch's commands, in order; the next feed
    /// (empty bytes will do) runs the EXEC with them in their places.
    pub fn node_replied(&mut self, replies: Vec<Vec<u8>>) {
        if self.exec_node_pending.is_some() {
            self.node_replies = Some(replies);
        }
    }

    /// Whether the session waits for the reply of a `Watch`, `ExecLog`, `ExecRead` or
    /// `ExecNode` group.
    fn held(&self) -> bool {
        self.watch_pending.is_some()
            || self.exec_pending.is_some()
            || self.exec_node_pending.is_some() && self.node_replies.is_none()
    }

    /// Whether `denyoom` writes are refused with `-OOM` (the store is over `maxmemory`).
    pub fn over_maxmemory(&self) -> bool {
        self.over_maxmemory
    }

    pub fn set_over_maxmemory(&mut self, over: bool) {
        self.over_maxmemory = over;
    }

    /// Ignores every later feed (the server closed the connection) and hands back the
    /// query buffer, for the caller to free now (not when the last reference to the session
    /// goes), where it likes: freeing hundreds of MiB takes the kernel milliseconds.
    pub fn close(&mut self) -> Vec<u8> {
        self.closed = true;
        self.discard = None;
        std::mem::take(&mut self.tail)
    }

    /// Parses what `data` completes and returns the groups, in command order. Batches carry
    /// `now_ms` as their clock. After a Close group, later feeds return nothing.
    pub fn feed(&mut self, data: &[u8], now_ms: u64) -> Vec<Group> {
        if self.closed {
            return Vec::new();
        }
        if self.held() {
            self.tail.extend_from_slice(data); // parsed once `watched` or `executed` is called
            return Vec::new();
        }
        let mut groups = Groups::new(now_ms, self.max_batch_commands);
        if let Some(queue) = self.exec_node_pending.take() {
            let replies = self.node_replies.take().unwrap_or_default();
            self.exec_run(queue, &replies, &mut groups);
            self.watches.clear();
        }
        let mut tail = std::mem::take(&mut self.tail);
        let from_tail = !tail.is_empty();
        if from_tail {
            tail.extend_from_slice(data);
        }
        let input: &[u8] = if from_tail { &tail } else { data };
        let used = self.consume(input, &mut groups);
        if self.closed {
            tail = Vec::new();
        } else if from_tail {
            tail.drain(..used);
        } else {
            tail.extend_from_slice(&data[used..]);
        }
        if tail.is_empty() {
            tail = Vec::new();
        } else if tail.capacity() > SHRINK_ABOVE_BYTES && tail.len() < tail.capacity() / 2 {
            tail.shrink_to_fit();
        }
        self.tail = tail;
        groups.finish()
    }

    /// Handles every complete command at the start of `input`; returns the bytes used.
    fn consume(&mut self, input: &[u8], groups: &mut Groups) -> usize {
        let mut pos = 0;
        let mut args = std::mem::take(&mut self.args);
        while !self.closed && !self.held() {
            if self.discard.is_some() {
                match self.skip(&input[pos..]) {
                    Ok((used, done)) => {
                        pos += used;
                        if !done {
                            break;
                        }
                        let message = format!("ERR value too large (max {} bytes)", self.limits.max_value_bytes);
                        put_error(groups.reply(), message.as_bytes());
                    }
                    Err(err) => {
                        self.close_on(&err, groups);
                        break;
                    }
                }
            }
            match parse_command(&input[pos..], &self.limits, &mut args) {
                Ok(ParseStep::Incomplete) => break,
                Ok(ParseStep::Skipped { used }) => pos += used,
                Ok(ParseStep::Command { used }) => {
                    self.on_command(&input[pos..pos + used], &args, groups);
                    pos += used;
                }
                Ok(ParseStep::Oversized { used, skip_bytes, args_left }) => {
                    pos += used;
                    self.discard = Some(Discard { skip_bytes, args_left });
                }
                Err(err) => self.close_on(&err, groups),
            }
        }
        self.args = args;
        pos
    }

    /// Skips the bytes of an oversized command: the bytes used, and whether it is all skipped.
    fn skip(&mut self, buf: &[u8]) -> std::result::Result<(usize, bool), RespError> {
        let limits = self.limits;
        let Some(discard) = self.discard.as_mut() else { return Ok((0, true)) };
        let mut pos = 0;
        loop {
            let available = (buf.len() - pos) as u64;
            let skipped = discard.skip_bytes.min(available);
            pos += skipped as usize;
            discard.skip_bytes -= skipped;
            if discard.skip_bytes > 0 {
                return Ok((pos, false));
            }
            if discard.args_left == 0 {
                self.discard = None;
                return Ok((pos, true));
            }
            let Some((len, used)) = parse_bulk_header(&buf[pos..], &limits)? else {
                return Ok((pos, false));
            };
            pos += used;
            discard.skip_bytes = len as u64 + 2;
            discard.args_left -= 1;
        }
    }

    fn close_on(&mut self, err: &RespError, groups: &mut Groups) {
        let mut bytes = Vec::new();
        put_error(&mut bytes, format!("ERR {err}").as_bytes());
        groups.push_final(Group::Close(bytes));
        self.closed = true;
    }

    /// Routes one complete command; `ranges` index `input`.
    fn on_command(&mut self, input: &[u8], ranges: &[Range<usize>], groups: &mut Groups) {
        let arg = |range: &Range<usize>| &input[range.clone()];
        let argc = ranges.len();
        let protocol = self.client.protocol;
        let Some(spec) = ranges.first().and_then(|name| lookup(arg(name))) else {
            let args: Vec<&[u8]> = ranges.iter().map(arg).collect();
            return self.refuse(groups, &unknown_command_error(&args), None);
        };
        if !spec.args_ok(argc) {
            return self.refuse(groups, &arity_error(spec.name), Some(spec));
        }
        // One bit test per plain command. Containers (their subcommand's bit) and SENATE.EXEC
        // (the wrapped command's bit too) take the slower path, as does a refusal.
        if !self.client.login.allowed.holds_bit(spec.fast_bit) {
            if let Some(error) = self.client.login.refusal_of(spec, input, ranges) {
                return self.refuse(groups, &error, Some(spec));
            }
        }
        if self.multi.is_some()
            || matches!(spec.cmd, Cmd::Multi | Cmd::Exec | Cmd::Discard | Cmd::Watch | Cmd::Unwatch | Cmd::Reset)
        {
            return self.transaction_command(spec, input, ranges, groups);
        }
        match spec.class {
            Class::Write if self.over_maxmemory && denied_when_full(spec, input, ranges) => {
                put_error(groups.reply(), OOM_ERROR);
            }
            Class::Write => {
                groups.wrote = true;
                groups.batch(BatchKind::Log, protocol).push(argc, ranges.iter().map(arg));
            }
            Class::Read => {
                let kind = if groups.wrote {
                    BatchKind::Log
                } else if self.client.readonly {
                    BatchKind::StaleRead
                } else {
                    BatchKind::Read
                };
                groups.batch(kind, protocol).push(argc, ranges.iter().map(arg));
            }
            Class::Node => {
                let mut builder = BatchBuilder::new(groups.now_ms, protocol);
                builder.push(argc, ranges.iter().map(arg));
                groups.push_final(Group::Node(builder.finish()));
            }
            Class::Session if spec.cmd == Cmd::Quit => {
                groups.push_final(Group::Close(b"+OK\r\n".to_vec()));
                self.closed = true;
            }
            Class::Session => {
                let args: Vec<&[u8]> = ranges.iter().map(arg).collect();
                answer(&mut self.client, spec.cmd, &args, groups.reply());
            }
        }
    }
}

/// MULTI, EXEC, DISCARD, and every command between MULTI and EXEC (`transaction`).
impl RespSession {
    /// Answers `error` for a command refused before it ran; in a transaction, EXEC will
    /// answer EXECABORT (as Redis flags a transaction for every command it rejects). EXEC
    /// itself refused (arity, ACL) ends the transaction and the watches, in or out of one:
    /// `-EXECABORT Transaction discarded because of: <error without its ERR>`.
    #[cold]
    #[inline(never)]
    fn refuse(&mut self, groups: &mut Groups, error: &[u8], spec: Option<&CommandSpec>) {
        if spec.is_some_and(|spec| spec.cmd == Cmd::Exec) {
            self.multi = None;
            self.watches.clear();
            let mut message = b"EXECABORT Transaction discarded because of: ".to_vec();
            message.extend_from_slice(error.strip_prefix(b"ERR ").unwrap_or(error));
            return put_error(groups.reply(), &message);
        }
        if let Some(queue) = &mut self.multi {
            queue.refuse();
        }
        put_error(groups.reply(), error);
    }

    #[cold]
    #[inline(never)]
    fn transaction_command(&mut self, spec: &CommandSpec, input: &[u8], ranges: &[Range<usize>], groups: &mut Groups) {
        let arg = |range: &Range<usize>| &input[range.clone()];
        match (spec.cmd, self.multi.take()) {
            (Cmd::Multi, None) => {
                self.multi = Some(Queue::default());
                put_ok(groups.reply());
            }
            (Cmd::Multi, queue @ Some(_)) => {
                self.multi = queue;
                put_error(groups.reply(), b"ERR MULTI calls can not be nested");
            }
            (Cmd::Exec, None) => put_error(groups.reply(), b"ERR EXEC without MULTI"),
            (Cmd::Discard, None) => put_error(groups.reply(), b"ERR DISCARD without MULTI"),
            (Cmd::Discard, Some(_)) => {
                self.watches.clear();
                put_ok(groups.reply());
            }
            (Cmd::Exec, Some(queue)) => {
                self.exec(queue, groups);
                if self.exec_node_pending.is_none() {
                    self.watches.clear(); // else once the EXEC runs
                }
            }
            (Cmd::Watch, queue @ Some(_)) => {
                self.multi = queue;
                put_error(groups.reply(), b"ERR WATCH inside MULTI is not allowed");
            }
            (Cmd::Watch, None) => self.watch(input, ranges, groups),
            (Cmd::Unwatch, None) => {
                self.watches.clear();
                put_ok(groups.reply());
            }
            (Cmd::Quit, _) => {
                groups.push_final(Group::Close(b"+OK\r\n".to_vec()));
                self.closed = true;
            }
            (Cmd::Reset, _) => self.reset(groups),
            (_, Some(mut queue)) => {
                // In a transaction Redis refuses every command over maxmemory, not only
                // the denyoom writes: the queue itself takes memory.
                let (max_commands, max_bytes) = (self.max_batch_commands, self.limits.max_value_bytes);
                let error = if self.over_maxmemory {
                    Some(OOM_ERROR.to_vec())
                } else if spec.class == Class::Node && spec.cmd != Cmd::Info {
                    Some(NOT_IN_TRANSACTION.to_vec())
                } else if spec.class == Class::Node || spec.class == Class::Session && !store_answers(spec.cmd) {
                    let args: Vec<&[u8]> = ranges.iter().map(arg).collect();
                    subcommand_error(spec, &args).or_else(|| {
                        let node = spec.class == Class::Node;
                        let pushed =
                            queue.push_connection(node, args.len(), args.iter().copied(), max_commands, max_bytes);
                        pushed.err().map(String::into_bytes)
                    })
                } else {
                    let kind = (
                        spec.class == Class::Write,
                        spec.class == Class::Write && denied_when_full(spec, input, ranges),
                    );
                    let pushed = queue.push(kind, ranges.len(), ranges.iter().map(arg), max_commands, max_bytes);
                    pushed.err().map(String::into_bytes)
                };
                match error {
                    Some(error) => {
                        queue.refuse();
                        put_error(groups.reply(), &error);
                    }
                    None => put_simple(groups.reply(), b"QUEUED"),
                }
                self.multi = Some(queue);
            }
            (_, None) => {
                unreachable!("only MULTI, EXEC, DISCARD, WATCH, UNWATCH, RESET come here outside a transaction")
            }
        }
    }

    /// WATCH: the keys not watched yet go to the node for their versions (`Group::Watch`).
    fn watch(&mut self, input: &[u8], ranges: &[Range<usize>], groups: &mut Groups) {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for range in &ranges[1..] {
            let key = &input[range.clone()];
            if !self.watches.iter().any(|(watched, _, _)| watched == key) && !keys.iter().any(|k| k == key) {
                keys.push(key.to_vec());
            }
        }
        let held: usize = self.watches.iter().map(|(key, _, _)| key.len()).sum();
        let adding: usize = keys.iter().map(Vec::len).sum();
        if self.watches.len() + keys.len() > MAX_WATCHED_KEYS {
            let message = format!("ERR too many watched keys (max {MAX_WATCHED_KEYS} per connection)");
            return put_error(groups.reply(), message.as_bytes());
        }
        if held + adding > self.limits.max_value_bytes {
            let message =
                format!("ERR watched keys too large (max {} bytes per connection)", self.limits.max_value_bytes);
            return put_error(groups.reply(), message.as_bytes());
        }
        if keys.is_empty() {
            return put_ok(groups.reply());
        }
        let mut builder = BatchBuilder::new(groups.now_ms, Protocol::Resp2);
        builder.push(keys.len() + 1, std::iter::once(&b"WATCH"[..]).chain(keys.iter().map(Vec::as_slice)));
        groups.push_final(Group::Watch(builder.finish()));
        self.watch_pending = Some(keys);
    }

    /// EXEC: the queued commands as one batch (a log entry if one writes), or EXECABORT.
    fn exec(&mut self, queue: Queue, groups: &mut Groups) {
        if queue.refused {
            return put_error(groups.reply(), EXECABORT);
        }
        if queue.denyoom && self.over_maxmemory {
            return put_error(groups.reply(), EXECABORT_OOM);
        }
        if queue.count == 0 && self.watches.is_empty() {
            return put_array_header(groups.reply(), 0);
        }
        if queue.node {
            // INFO's replies come from the node: it answers them first, then the EXEC runs.
            let mut builder = BatchBuilder::new(groups.now_ms, self.client.protocol);
            for_each_command(&queue.body, queue.count, |args| {
                if lookup(args[0]).is_some_and(|spec| spec.class == Class::Node) {
                    builder.push(args.len(), args.iter().copied());
                }
            });
            groups.push_final(Group::ExecNode(builder.finish()));
            self.exec_node_pending = Some(queue);
            return;
        }
        self.exec_run(queue, &[], groups);
    }

    /// EXEC of an accepted queue, with the replies of its node commands (INFO), in order.
    fn exec_run(&mut self, queue: Queue, node_replies: &[Vec<u8>], groups: &mut Groups) {
        let mut body = queue.body;
        if queue.connection {
            let Some(run) = run_connection_commands(&self.client, &body, queue.count, node_replies) else {
                return put_error(groups.reply(), b"ERR the transaction's queue does not decode");
            };
            body = run.body;
            if !queue.writes && self.watches.is_empty() {
                // Only connection commands (and PING, ECHO, UNWATCH): answered here at once,
                // as outside MULTI, with no read barrier (which needs a quorum).
                let batch = encode_transaction(groups.now_ms, self.client.protocol, &[], &body, queue.count);
                let local = BatchReader::new(&batch)
                    .ok()
                    .and_then(|mut reader| reply_without_store(&mut reader))
                    .and_then(|array| splice_replies(&array, &run.replies));
                if let Some(reply) = local {
                    self.client = run.client;
                    return groups.reply().extend_from_slice(&reply);
                }
            }
            // The replies wait here for the store's array (`executed`), the state with them.
            self.exec_pending = Some((run.replies, run.client));
        }
        let watches: Vec<Watch<'_>> =
            self.watches.iter().map(|(key, version, live)| Watch { key, version: *version, live: *live }).collect();
        let batch = encode_transaction(groups.now_ms, self.client.protocol, &watches, &body, queue.count);
        let writes = queue.writes || groups.wrote;
        groups.wrote |= writes;
        let group = match (writes, self.exec_pending.is_some()) {
            (true, false) => Group::Log(batch),
            (true, true) => Group::ExecLog(batch),
            (false, true) => Group::ExecRead(batch),
            (false, false) if self.client.readonly => Group::StaleRead(batch),
            (false, false) => Group::Read(batch),
        };
        groups.push_final(group);
    }

    /// RESET: the connection as a new one (Redis's `clearClientConnectionState`): no
    /// transaction, no watched keys, no name, RESP2, READWRITE, and the default user (or
    /// nobody, when that one needs a password). Never queued: inside MULTI it discards it.
    fn reset(&mut self, groups: &mut Groups) {
        self.multi = None;
        self.watches.clear();
        let client = &mut self.client;
        client.name = None;
        client.protocol = Protocol::Resp2;
        client.readonly = false;
        client.login = Login::new(client.login.users.clone());
        put_simple(groups.reply(), b"RESET");
    }
}

/// Whether a write is refused while the store is over `maxmemory`: its `denyoom` flag, or,
/// for SENATE.EXEC (`session seq first_unacked command...`), that of the command it wraps.
fn denied_when_full(spec: &CommandSpec, input: &[u8], ranges: &[Range<usize>]) -> bool {
    if spec.cmd != Cmd::SenateExec {
        return spec.denyoom;
    }
    ranges.get(4).and_then(|name| lookup(&input[name.clone()])).is_some_and(|wrapped| wrapped.denyoom)
}
