//! The log entry of a batch of commands:
//!
//! ```text
//! version: u8 (= BATCH_VERSION)
//! now_ms:  u64 little-endian (the proposer's wall clock: the clock of expiry)
//! count:   u32 little-endian (commands that follow)
//! count × { argc: varint, argc × { len: varint, bytes } }
//! ```
//!
//! Decoding checks every length and count against the bytes present; nothing is allocated
//! from a stated number.

use super::error::{KvError, Result};
use crate::codec::{get_varint, put_varint};

pub const BATCH_VERSION: u8 = 1;
/// Bytes before the first command.
pub const BATCH_HEADER_BYTES: usize = 13;

fn malformed(problem: &'static str) -> KvError {
    KvError::MalformedBatch { problem }
}

/// Builds one batch: [`BatchBuilder::push`] commands, then [`BatchBuilder::finish`].
#[derive(Debug)]
pub struct BatchBuilder {
    buf: Vec<u8>,
    /// Commands pushed so far.
    count: u32,
}

impl BatchBuilder {
    pub fn new(now_ms: u64) -> BatchBuilder {
        let mut buf = Vec::with_capacity(256);
        buf.push(BATCH_VERSION);
        buf.extend_from_slice(&now_ms.to_le_bytes());
        buf.extend_from_slice(&[0; 4]);
        BatchBuilder { buf, count: 0 }
    }

    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// Appends one command of `argc` arguments.
    pub fn push<'a>(&mut self, argc: usize, args: impl Iterator<Item = &'a [u8]>) {
        put_varint(argc as u64, &mut self.buf);
        for arg in args {
            put_varint(arg.len() as u64, &mut self.buf);
            self.buf.extend_from_slice(arg);
        }
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf[9..13].copy_from_slice(&self.count.to_le_bytes());
        self.buf
    }
}

/// Encodes one batch holding the given commands (tests, tools).
pub fn encode_batch(now_ms: u64, commands: &[Vec<Vec<u8>>]) -> Vec<u8> {
    let mut builder = BatchBuilder::new(now_ms);
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
    /// Commands not read yet.
    remaining: u32,
    rest: &'a [u8],
}

impl<'a> BatchReader<'a> {
    /// Checks the header and every command of `batch`.
    pub fn new(batch: &'a [u8]) -> Result<BatchReader<'a>> {
        if batch.len() < BATCH_HEADER_BYTES {
            return Err(malformed("shorter than its header"));
        }
        if batch[0] != BATCH_VERSION {
            return Err(malformed("unknown version"));
        }
        let now_ms = u64::from_le_bytes(batch[1..9].try_into().map_err(|_| malformed("header"))?);
        let count = u32::from_le_bytes(batch[9..13].try_into().map_err(|_| malformed("header"))?);
        let reader = BatchReader { now_ms, remaining: count, rest: &batch[BATCH_HEADER_BYTES..] };
        reader.validate()?;
        Ok(reader)
    }

    pub fn len(&self) -> usize {
        self.remaining as usize
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
