//! The log entry of a batch of commands:
//!
//! ```text
//! version:  u8 (1 to 4)
//! now_ms:   u64 little-endian (the proposer's wall clock: the clock of expiry)
//! count:    u32 little-endian (commands that follow)
//! protocol: u8, versions 2 to 4 (3: the replies are RESP3; 2: RESP2)
//! version 3 only, the watched keys: watches: varint,
//!   watches × { len: varint, key, version: varint, live: varint (1: the key was live when
//!   watched, else 0) }
//! count × { argc: varint, argc × { len: varint, bytes } }
//! ```
//!
//! Version 3 is one transaction (MULTI ... EXEC): its commands run as one, their replies in
//! one array, or not at all (a null array) when a watched key changed after its version
//! (see `transaction`).
//!
//! Version 4 is version 2's layout, written by the builds that keep the versions WATCH
//! compares (every batch but a transaction). Only batches of version 3 or 4 advance the
//! store's version (`KvStore::begin_batch`): the batches of a log written before (1 and 2)
//! change keys at version 0, as a snapshot of that time restores them, so every replica
//! gives every key the same version whichever snapshot it started from. (Counting those
//! batches too, a replica that restored an older snapshot would count from another place.)
//!
//! The replies of a batch are encoded where it runs (on every replica, for a log batch), so
//! the batch names the protocol of the connection that sent it. Version 1 batches have no
//! protocol byte and are RESP2. Builds before version 4 cannot read it (nor snapshots of
//! version 4 or later): upgrade every node at once.
//!
//! Decoding checks every length and count against the bytes present; nothing is allocated
//! from a stated number.

use super::error::{KvError, Result};
use crate::codec::resp::Protocol;
use crate::codec::{get_varint, put_varint};

/// The version without a protocol byte: RESP2 replies.
pub const BATCH_VERSION_RESP2: u8 = 1;
/// The version with a protocol byte after the count.
pub const BATCH_VERSION_PROTOCOL: u8 = 2;
/// The version of a transaction: a protocol byte and the watched keys after the count.
pub const BATCH_VERSION_TRANSACTION: u8 = 3;
/// Version 2's layout, advancing the store's version (see the module doc): what builds write.
pub const BATCH_VERSION_COUNTED: u8 = 4;
/// Bytes before the first command of a version 1 batch.
pub const BATCH_HEADER_BYTES: usize = 13;
/// Bytes before the first command of a version 2 batch.
pub const BATCH_HEADER_BYTES_PROTOCOL: usize = 14;
/// Where the count sits in either version: `[9, 13)`.
const COUNT_AT: usize = 9;

fn malformed(problem: &'static str) -> KvError {
    KvError::MalformedBatch { problem }
}

/// Builds one batch: [`BatchBuilder::push`] commands, then [`BatchBuilder::finish`].
#[derive(Debug)]
pub struct BatchBuilder {
    buf: Vec<u8>,
    /// Commands pushed so far.
    count: u32,
    /// The protocol the header states.
    protocol: Protocol,
}

impl BatchBuilder {
    /// A batch whose replies are encoded in `protocol`.
    pub fn new(now_ms: u64, protocol: Protocol) -> BatchBuilder {
        let mut buf = Vec::with_capacity(256);
        buf.push(BATCH_VERSION_COUNTED);
        buf.extend_from_slice(&now_ms.to_le_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.push(protocol.version());
        BatchBuilder { buf, count: 0, protocol }
    }

    /// The protocol of the replies, as the header states it.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// Appends one command of `argc` arguments.
    pub fn push<'a>(&mut self, argc: usize, args: impl Iterator<Item = &'a [u8]>) {
        put_command(&mut self.buf, argc, args);
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf[COUNT_AT..COUNT_AT + 4].copy_from_slice(&self.count.to_le_bytes());
        self.buf
    }
}

/// Encodes one RESP2 batch holding the given commands (tests, tools).
pub fn encode_batch(now_ms: u64, commands: &[Vec<Vec<u8>>]) -> Vec<u8> {
    encode_batch_for(Protocol::Resp2, now_ms, commands)
}

/// Encodes one batch holding the given commands, its replies in `protocol` (tests, tools).
pub fn encode_batch_for(protocol: Protocol, now_ms: u64, commands: &[Vec<Vec<u8>>]) -> Vec<u8> {
    let mut builder = BatchBuilder::new(now_ms, protocol);
    for command in commands {
        builder.push(command.len(), command.iter().map(Vec::as_slice));
    }
    builder.finish()
}

/// A batch being read command by command. [`BatchReader::new`] has checked the whole batch,
/// so [`BatchReader::next_into`] cannot fail afterwards.
#[derive(Debug)]
pub struct BatchReader<'a> {
    pub now_ms: u64,
    /// The protocol of the replies (RESP2 for a version 1 batch).
    pub protocol: Protocol,
    /// Commands not read yet.
    remaining: u32,
    rest: &'a [u8],
    /// A transaction (version 3): its watched keys, encoded (checked by `new`).
    pub transaction: Option<Watches<'a>>,
    /// Whether the batch advances the store's version (versions 3 and 4; see the module doc).
    pub counted: bool,
}

impl<'a> BatchReader<'a> {
    /// Checks the header and every command of `batch`.
    pub fn new(batch: &'a [u8]) -> Result<BatchReader<'a>> {
        let header_bytes = match batch.first() {
            Some(&BATCH_VERSION_RESP2) => BATCH_HEADER_BYTES,
            Some(&BATCH_VERSION_PROTOCOL | &BATCH_VERSION_TRANSACTION | &BATCH_VERSION_COUNTED) => {
                BATCH_HEADER_BYTES_PROTOCOL
            }
            Some(_) => return Err(malformed("unknown version")),
            None => return Err(malformed("shorter than its header")),
        };
        if batch.len() < header_bytes {
            return Err(malformed("shorter than its header"));
        }
        let now_ms = u64::from_le_bytes(batch[1..COUNT_AT].try_into().map_err(|_| malformed("header"))?);
        let count = u32::from_le_bytes(batch[COUNT_AT..COUNT_AT + 4].try_into().map_err(|_| malformed("header"))?);
        let protocol = match header_bytes {
            BATCH_HEADER_BYTES => Protocol::Resp2,
            _ => Protocol::from_version(i64::from(batch[COUNT_AT + 4])).ok_or(malformed("unknown protocol"))?,
        };
        let mut rest = &batch[header_bytes..];
        let transaction = match batch[0] {
            BATCH_VERSION_TRANSACTION => {
                let (watches, used) = Watches::split(rest)?;
                rest = &rest[used..];
                Some(watches)
            }
            _ => None,
        };
        let counted = batch[0] >= BATCH_VERSION_TRANSACTION;
        let reader = BatchReader { now_ms, protocol, remaining: count, rest, transaction, counted };
        reader.validate()?;
        Ok(reader)
    }

    pub fn len(&self) -> usize {
        self.remaining as usize
    }

    /// How many replies the client waits for when this batch is answered with an error
    /// (nothing committed or read): one per command, but one for a transaction (version 3),
    /// which answers only its EXEC, whatever it queued (none: `WATCH k; MULTI; EXEC`).
    pub fn reply_count(&self) -> usize {
        if self.transaction.is_some() {
            1
        } else {
            self.len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    fn validate(&self) -> Result<()> {
        let mut rest = self.rest;
        for _ in 0..self.remaining {
            let (argc, used) = varint(rest)?;
            rest = &rest[used..];
            if argc == 0 {
                return Err(malformed("command without arguments"));
            }
            // Each argument takes at least its one-byte length.
            if argc > rest.len() as u64 {
                return Err(malformed("argument count exceeds the bytes left"));
            }
            for _ in 0..argc {
                let (len, used) = varint(rest)?;
                rest = &rest[used..];
                if len > rest.len() as u64 {
                    return Err(malformed("argument length exceeds the bytes left"));
                }
                rest = &rest[len as usize..];
            }
        }
        if !rest.is_empty() {
            return Err(malformed("trailing bytes after the last command"));
        }
        Ok(())
    }

    /// The next command's arguments into `args` (cleared first); `false` after the last.
    pub fn next_into(&mut self, args: &mut Vec<&'a [u8]>) -> bool {
        args.clear();
        if self.remaining == 0 {
            return false;
        }
        self.remaining -= 1;
        // Validated in `new`: the fallbacks below are never taken.
        let Ok((argc, used)) = varint(self.rest) else { return false };
        self.rest = &self.rest[used..];
        args.reserve((argc as usize).min(self.rest.len()));
        for _ in 0..argc {
            let Ok((len, used)) = varint(self.rest) else { return false };
            let (arg, rest) = self.rest[used..].split_at(len as usize);
            args.push(arg);
            self.rest = rest;
        }
        true
    }
}

/// One watched key of a transaction: the key's version (`KvStore::version_of`) and whether
/// it was live when the client watched it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watch<'a> {
    pub key: &'a [u8],
    pub version: u64,
    pub live: bool,
}

/// The watched keys of a transaction batch, checked.
#[derive(Clone, Copy, Debug)]
pub struct Watches<'a> {
    count: u64,
    bytes: &'a [u8],
}

impl<'a> Watches<'a> {
    /// The watches at the start of `src` and the bytes they take.
    fn split(src: &'a [u8]) -> Result<(Watches<'a>, usize)> {
        let (count, mut pos) = varint(src)?;
        let start = pos;
        // Each watch takes at least three bytes.
        if count > (src.len() - pos) as u64 / 3 {
            return Err(malformed("watch count exceeds the bytes left"));
        }
        for _ in 0..count {
            let (len, used) = varint(&src[pos..])?;
            pos += used;
            if len > (src.len() - pos) as u64 {
                return Err(malformed("watched key length exceeds the bytes left"));
            }
            pos += len as usize;
            for _ in 0..2 {
                pos += varint(&src[pos..])?.1;
            }
        }
        Ok((Watches { count, bytes: &src[start..pos] }, pos))
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every watch, in the order written.
    pub fn iter(&self) -> impl Iterator<Item = Watch<'a>> {
        let mut rest = self.bytes;
        (0..self.count).map_while(move |_| {
            // Checked by `split`: never None.
            let (len, used) = get_varint(rest).ok()?;
            let (key, after) = rest[used..].split_at(len as usize);
            let (version, used) = get_varint(after).ok()?;
            let (live, used2) = get_varint(&after[used..]).ok()?;
            rest = &after[used + used2..];
            Some(Watch { key, version, live: live == 1 })
        })
    }
}

/// Encodes a transaction (version 3): `body` holds `count` commands as a batch encodes
/// them (`BatchBuilder::body`).
pub fn encode_transaction(
    now_ms: u64,
    protocol: Protocol,
    watches: &[Watch<'_>],
    body: &[u8],
    count: usize,
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(BATCH_HEADER_BYTES_PROTOCOL + 16 + body.len());
    buf.push(BATCH_VERSION_TRANSACTION);
    buf.extend_from_slice(&now_ms.to_le_bytes());
    buf.extend_from_slice(&(count as u32).to_le_bytes());
    buf.push(protocol.version());
    put_varint(watches.len() as u64, &mut buf);
    for watch in watches {
        put_varint(watch.key.len() as u64, &mut buf);
        buf.extend_from_slice(watch.key);
        put_varint(watch.version, &mut buf);
        put_varint(u64::from(watch.live), &mut buf);
    }
    buf.extend_from_slice(body);
    buf
}

/// Appends one command of `argc` arguments as a batch encodes it.
pub fn put_command<'a>(buf: &mut Vec<u8>, argc: usize, args: impl Iterator<Item = &'a [u8]>) {
    put_varint(argc as u64, buf);
    for arg in args {
        put_varint(arg.len() as u64, buf);
        buf.extend_from_slice(arg);
    }
}

fn varint(src: &[u8]) -> Result<(u64, usize)> {
    get_varint(src).map_err(|_| malformed("bad varint"))
}

/// Every command of `batch` as owned argument lists (for the node's commands: INFO).
pub fn decode_batch(batch: &[u8]) -> Result<Vec<Vec<Vec<u8>>>> {
    let mut reader = BatchReader::new(batch)?;
    let mut commands = Vec::with_capacity(reader.len().min(1024));
    let mut args = Vec::new();
    while reader.next_into(&mut args) {
        commands.push(args.iter().map(|a| a.to_vec()).collect());
    }
    Ok(commands)
}
