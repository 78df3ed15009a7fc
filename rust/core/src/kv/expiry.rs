//! The commands of key deadlines: TTL, PTTL, EXPIRETIME, PEXPIRETIME (reads); EXPIRE,
//! PEXPIRE, EXPIREAT, PEXPIREAT with NX, XX, GT and LT, PERSIST, SETEX, PSETEX and GETEX
//! (writes), with Redis 7's replies and errors.
//!
//! A relative time becomes a deadline at the clock of the log batch it runs in: the
//! proposer's clock, written into the batch, so every replica stores the same deadline.

use super::exec::{eq_nocase, put_optional_bulk, NOT_INTEGER, SYNTAX, WRONGTYPE};
use super::store::{KvStore, Value, WrongType};
use crate::codec::resp::{parse_i64, put_error, put_integer, put_ok, Protocol};
use std::sync::Arc;

/// `ERR invalid expire time in 'set' command`, naming `command`.
fn invalid_expire(command: &str) -> Vec<u8> {
    format!("ERR invalid expire time in '{command}' command").into_bytes()
}

/// The deadline that the expire option of `command` (SET, SETEX, GETEX...) states: `arg`
/// times `unit` ms, from `now_ms` unless `absolute`; or its error (Redis refuses a time
/// `<= 0` and one past `i64::MAX` ms).
pub(crate) fn expire_deadline(
    now_ms: u64,
    arg: &[u8],
    unit: u64,
    absolute: bool,
    command: &str,
) -> Result<u64, Vec<u8>> {
    let amount = parse_i64(arg).ok_or_else(|| NOT_INTEGER.to_vec())?;
    if amount <= 0 {
        return Err(invalid_expire(command));
    }
    let ms =
        (amount as u64).checked_mul(unit).filter(|&ms| ms <= i64::MAX as u64).ok_or_else(|| invalid_expire(command))?;
    if absolute {
        return Ok(ms);
    }
    now_ms.checked_add(ms).filter(|&t| t <= i64::MAX as u64).ok_or_else(|| invalid_expire(command))
}

/// What TTL and its kin report.
#[derive(Clone, Copy)]
pub(crate) enum TtlReport {
    /// TTL: seconds left, rounded.
    Seconds,
    /// PTTL: milliseconds left.
    Millis,
    /// EXPIRETIME: the deadline in Unix seconds.
    AtSeconds,
    /// PEXPIRETIME: the deadline in Unix milliseconds.
    AtMillis,
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for no key, -1 for no deadline.
pub(crate) fn ttl(store: &KvStore, now_ms: u64, key: &[u8], report: TtlReport, out: &mut Vec<u8>) {
    let Some(value) = store.get(key, now_ms) else {
        return put_integer(out, -2);
    };
    let Some(deadline) = value.expires_at_ms() else {
        return put_integer(out, -1);
    };
    let left = deadline.saturating_sub(now_ms) as i64;
    let reply = match report {
        TtlReport::Seconds => (left + 500) / 1000,
        TtlReport::Millis => left,
        TtlReport::AtSeconds => (deadline as i64 + 500) / 1000,
        TtlReport::AtMillis => deadline as i64,
    };
    put_integer(out, reply);
}

/// The condition of EXPIRE and its kin.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Condition {
    #[default]
    Always,
    /// NX: only without a deadline.
    Nx,
    /// XX: only with a deadline.
    Xx,
    /// GT: only later than the deadline (none counts as infinite).
    Gt,
    /// LT: only earlier than the deadline (none counts as infinite).
    Lt,
}

fn parse_condition(options: &[&[u8]]) -> Result<Condition, Vec<u8>> {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for option in options {
        if eq_nocase(option, b"nx") {
            nx = true;
        } else if eq_nocase(option, b"xx") {
            xx = true;
        } else if eq_nocase(option, b"gt") {
            gt = true;
        } else if eq_nocase(option, b"lt") {
            lt = true;
        } else {
            let mut message = b"ERR Unsupported option ".to_vec();
            message.extend_from_slice(option);
            return Err(message);
        }
    }
    if nx && (xx || gt || lt) {
        return Err(b"ERR NX and XX, GT or LT options at the same time are not compatible".to_vec());
    }
    if gt && lt {
        return Err(b"ERR GT and LT options at the same time are not compatible".to_vec());
    }
    // XX combines with GT or LT: XX holds whenever they do, but for a key without deadline
    // (which LT would take).
    Ok(match (xx, gt, lt) {
        (_, true, _) => Condition::Gt,
        (true, _, true) => Condition::Lt,
        (true, _, _) => Condition::Xx,
        (_, _, true) => Condition::Lt,
        _ if nx => Condition::Nx,
        _ => Condition::Always,
    })
}

/// EXPIRE, PEXPIRE (`absolute` false), EXPIREAT, PEXPIREAT: `args[2]` times `unit_ms`. 1
/// when the deadline was set (a deadline already past deletes the key), 0 when the key is
/// absent or the condition does not hold.
pub(crate) fn expire(
    store: &mut KvStore,
    now_ms: u64,
    args: &[&[u8]],
    unit_ms: i64,
    absolute: bool,
    command: &str,
    out: &mut Vec<u8>,
) {
    let condition = match parse_condition(&args[3..]) {
        Ok(condition) => condition,
        Err(message) => return put_error(out, &message),
    };
    let xx_with_lt = condition == Condition::Lt && args[3..].iter().any(|o| eq_nocase(o, b"xx"));
    let Some(amount) = parse_i64(args[2]) else {
        return put_error(out, NOT_INTEGER);
    };
    let base = if absolute { 0 } else { now_ms as i64 };
    let Some(when) = amount.checked_mul(unit_ms).and_then(|ms| ms.checked_add(base)) else {
        return put_error(out, &invalid_expire(command));
    };
    let key = args[1];
    let Some(value) = store.get(key, now_ms) else {
        return put_integer(out, 0);
    };
    let current = value.expires_at_ms().map(|t| t as i64);
    let holds = match (condition, current) {
        (Condition::Always, _) => true,
        (Condition::Nx, current) => current.is_none(),
        (Condition::Xx, current) => current.is_some(),
        (Condition::Gt, Some(current)) => when > current,
        (Condition::Gt, None) => false,
        (Condition::Lt, Some(current)) => when < current,
        (Condition::Lt, None) => !xx_with_lt,
    };
    if !holds {
        return put_integer(out, 0);
    }
    if when <= now_ms as i64 {
        store.remove(key, now_ms);
    } else {
        store.set_deadline(key, Some(when as u64), now_ms);
    }
    put_integer(out, 1);
}

/// PERSIST: 1 when a deadline was removed.
pub(crate) fn persist(store: &mut KvStore, now_ms: u64, key: &[u8], out: &mut Vec<u8>) {
    let had = store.get(key, now_ms).is_some_and(|value| value.expires_at_ms().is_some());
    if had {
        store.set_deadline(key, None, now_ms);
    }
    put_integer(out, i64::from(had));
}

/// SETEX and PSETEX: `key`, a time of `unit_ms`, the value.
pub(crate) fn set_with_expiry(
    store: &mut KvStore,
    now_ms: u64,
    args: &[&[u8]],
    unit_ms: u64,
    command: &str,
    out: &mut Vec<u8>,
) {
    match expire_deadline(now_ms, args[2], unit_ms, false, command) {
        Ok(deadline) => {
            store.set(args[1], Value::new(Arc::from(args[3]), Some(deadline)), now_ms);
            put_ok(out);
        }
        Err(message) => put_error(out, &message),
    }
}

/// `GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]`: the value, its deadline changed.
pub(crate) fn getex(store: &mut KvStore, now_ms: u64, protocol: Protocol, args: &[&[u8]], out: &mut Vec<u8>) {
    // None: keep the deadline; Some(None): PERSIST; Some(Some((unit, absolute, at))). An
    // option may come again (the last one counts), not with another (as in Redis).
    let mut change: Option<Option<(u64, bool, usize)>> = None;
    let mut i = 2;
    while i < args.len() {
        let arg = args[i];
        let unit = [(b"ex" as &[u8], 1000, false), (b"px", 1, false), (b"exat", 1000, true), (b"pxat", 1, true)]
            .into_iter()
            .find(|(name, _, _)| eq_nocase(arg, name));
        match (unit, change) {
            (Some((_, unit, absolute)), None | Some(Some(_)))
                if i + 1 < args.len()
                    && change.is_none_or(|c| c.is_some_and(|(u, a, _)| (u, a) == (unit, absolute))) =>
            {
                change = Some(Some((unit, absolute, i + 1)));
                i += 2;
            }
            (None, None | Some(None)) if eq_nocase(arg, b"persist") => {
                change = Some(None);
                i += 1;
            }
            _ => return put_error(out, SYNTAX),
        }
    }
    let key = args[1];
    match store.get(key, now_ms).map(Value::string) {
        None => return put_optional_bulk(out, protocol, None),
        Some(Err(WrongType)) => return put_error(out, WRONGTYPE),
        Some(Ok(_)) => {}
    }
    let deadline = match change {
        Some(Some((unit, absolute, at))) => match expire_deadline(now_ms, args[at], unit, absolute, "getex") {
            Ok(deadline) => Some(Some(deadline)),
            Err(message) => return put_error(out, &message),
        },
        Some(None) => Some(None),
        None => None,
    };
    let Some(Ok(value)) = store.get(key, now_ms).map(Value::string) else { return };
    put_optional_bulk(out, protocol, Some(value));
    match deadline {
        Some(Some(deadline)) if deadline <= now_ms => {
            store.remove(key, now_ms);
        }
        Some(deadline) => {
            store.set_deadline(key, deadline, now_ms);
        }
        None => {}
    }
}
