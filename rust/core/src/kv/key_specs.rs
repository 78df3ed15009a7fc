//! Key specifications: where a command's keys sit and what it does to each, as Redis 7.0's
//! key specs state it (`COMMAND INFO`'s key specs, `COMMAND GETKEYSANDFLAGS`). Every spec
//! here begins at an index and takes a range, as all of Redis's do for the commands the
//! service supports; tests/test_kv_compat.py compares every command's keys and flags with
//! redis-server's.

use super::command::Cmd;
use super::exec::eq_nocase;

/// Redis's key-spec flags (a bit set): the first four say how the key's value is used
/// (read only, read-write, overwritten, removed), the next four what happens to the key's
/// data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyFlags(u8);

pub const RO: KeyFlags = KeyFlags(1);
pub const RW: KeyFlags = KeyFlags(1 << 1);
pub const OW: KeyFlags = KeyFlags(1 << 2);
pub const RM: KeyFlags = KeyFlags(1 << 3);
pub const ACCESS: KeyFlags = KeyFlags(1 << 4);
pub const UPDATE: KeyFlags = KeyFlags(1 << 5);
pub const INSERT: KeyFlags = KeyFlags(1 << 6);
pub const DELETE: KeyFlags = KeyFlags(1 << 7);

/// The flags' names in Redis's order of listing them.
const FLAG_NAMES: [(KeyFlags, &str); 8] = [
    (RO, "RO"),
    (RW, "RW"),
    (OW, "OW"),
    (RM, "RM"),
    (ACCESS, "access"),
    (UPDATE, "update"),
    (INSERT, "insert"),
    (DELETE, "delete"),
];

impl KeyFlags {
    const fn with(self, other: KeyFlags) -> KeyFlags {
        KeyFlags(self.0 | other.0)
    }

    /// The names of the flags set, in Redis's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        FLAG_NAMES.into_iter().filter(move |(flag, _)| self.0 & flag.0 != 0).map(|(_, name)| name)
    }
}

/// One key spec: the keys at `[index, last]` every `step` arguments, where `last` is
/// `index + last_key` when `last_key >= 0`, else counted from the end (-1: the last
/// argument), as Redis's `begin_search index` and `find_keys range` say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub flags: KeyFlags,
    pub index: usize,
    pub last_key: i64,
    pub step: usize,
}

const fn one(flags: KeyFlags) -> KeySpec {
    KeySpec { flags, index: 1, last_key: 0, step: 1 }
}

const fn to_end(flags: KeyFlags, step: usize) -> KeySpec {
    KeySpec { flags, index: 1, last_key: -1, step }
}

const RO_ACCESS: KeyFlags = RO.with(ACCESS);
const RW_ACCESS_UPDATE: KeyFlags = RW.with(ACCESS).with(UPDATE);
const RW_UPDATE: KeyFlags = RW.with(UPDATE);
const OW_UPDATE: KeyFlags = OW.with(UPDATE);
const OW_INSERT: KeyFlags = OW.with(INSERT);
const RW_ACCESS_DELETE: KeyFlags = RW.with(ACCESS).with(DELETE);

/// A `&'static [KeySpec]` of const expressions.
macro_rules! specs {
    ($($spec:expr),+) => {{
        const SPECS: &[KeySpec] = &[$($spec),+];
        SPECS
    }};
}

/// The key specs of `cmd` (none for a command without keys). SET's flags depend on its
/// arguments: see [`keys_and_flags`].
pub fn key_specs(cmd: Cmd) -> &'static [KeySpec] {
    use Cmd::*;
    match cmd {
        Set | Incr | IncrBy | Decr | DecrBy | GetSet | GetEx | IncrByFloat | HIncrBy | HIncrByFloat => {
            specs!(one(RW_ACCESS_UPDATE))
        }
        Del | Unlink => specs!(to_end(RM.with(DELETE), 1)),
        Append => specs!(one(RW.with(INSERT))),
        MSet => specs!(to_end(OW_UPDATE, 2)),
        MSetNx => specs!(to_end(OW_INSERT, 2)),
        MGet => specs!(to_end(RO_ACCESS, 1)),
        Exists | Touch | Watch => specs!(to_end(RO, 1)),
        StrLen | Type | HLen | HExists | HStrLen => specs!(one(RO)),
        Get | Ttl | PTtl | ExpireTime | PExpireTime | GetRange | Substr | HGet | HMGet | HGetAll | HKeys | HVals
        | HScan | HRandField => specs!(one(RO_ACCESS)),
        Expire | PExpire | ExpireAt | PExpireAt | Persist | SetRange | HSet | HMSet => specs!(one(RW_UPDATE)),
        SetEx | PSetEx => specs!(one(OW_UPDATE)),
        SetNx => specs!(one(OW_INSERT)),
        HSetNx => specs!(one(RW.with(INSERT))),
        HDel => specs!(one(RW.with(DELETE))),
        GetDel => specs!(one(RW_ACCESS_DELETE)),
        Rename => specs!(one(RW_ACCESS_DELETE), KeySpec { flags: OW_UPDATE, index: 2, last_key: 0, step: 1 }),
        RenameNx => specs!(one(RW_ACCESS_DELETE), KeySpec { flags: OW_INSERT, index: 2, last_key: 0, step: 1 }),
        Copy => specs!(one(RO_ACCESS), KeySpec { flags: OW_UPDATE, index: 2, last_key: 0, step: 1 }),
        Lcs => specs!(KeySpec { flags: RO_ACCESS, index: 1, last_key: 1, step: 1 }),
        _ => &[],
    }
}

/// The keys of the command `args` (its name first, its arity checked) with their flags, in
/// spec order, as `COMMAND GETKEYSANDFLAGS` lists them. SET's key is `RW access update` when
/// it has the GET option, else `OW update` (Redis's `setGetKeys`).
pub fn keys_and_flags<'a>(cmd: Cmd, args: &[&'a [u8]]) -> Vec<(&'a [u8], KeyFlags)> {
    if cmd == Cmd::Set {
        let get = args.iter().skip(3).any(|arg| eq_nocase(arg, b"get"));
        return vec![(args[1], if get { RW_ACCESS_UPDATE } else { OW_UPDATE })];
    }
    let mut keys = Vec::new();
    for spec in key_specs(cmd) {
        let last = if spec.last_key >= 0 {
            spec.index + spec.last_key as usize
        } else {
            (args.len() as i64 + spec.last_key) as usize
        };
        let mut i = spec.index;
        while i <= last && i < args.len() {
            keys.push((args[i], spec.flags));
            i += spec.step;
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::command::COMMANDS;

    #[test]
    fn a_command_has_key_specs_when_it_takes_keys() {
        for spec in &COMMANDS {
            assert_eq!(spec.keys, !key_specs(spec.cmd).is_empty() || spec.cmd == Cmd::Set, "{}", spec.name);
        }
    }
}
