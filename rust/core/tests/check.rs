//! The linearizability checker: hand-built bad histories each caught with the right operation
//! named, indeterminate and failed operations, budgets, bad records, and properties (histories
//! recorded from a correct register under random concurrency are linearizable; a read of a
//! value never written is caught; the verdict does not depend on the threads).

use bytes::Bytes;
use proptest::prelude::*;
use senate_core::check::{
    check, check_records, CheckOptions, CheckResult, Counter, CounterInput, CounterOutput, KvInput, KvOutput,
    KvRegister, ModelKind, Operation, Outcome, RawValue, Record, RecordOutcome, Verdict,
};

type KvOp = Operation<KvInput, KvOutput>;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// A completed operation on key "x".
fn op(id: u64, client_id: u64, input: KvInput, output: KvOutput, invoke_ns: u64, complete_ns: u64) -> KvOp {
    Operation {
        id,
        client_id,
        key: "x".into(),
        input,
        outcome: Outcome::Ok(output),
        invoke_ns,
        complete_ns: Some(complete_ns),
    }
}

fn get(id: u64, client: u64, value: Option<&str>, invoke_ns: u64, complete_ns: u64) -> KvOp {
    op(id, client, KvInput::Get, KvOutput::Value(value.map(b)), invoke_ns, complete_ns)
}

fn set(id: u64, client: u64, value: &str, invoke_ns: u64, complete_ns: u64) -> KvOp {
    op(id, client, KvInput::Set(b(value)), KvOutput::Done, invoke_ns, complete_ns)
}

fn with_outcome(mut op: KvOp, outcome: Outcome<KvOutput>) -> KvOp {
    op.outcome = outcome;
    op
}

fn check_kv(ops: &[KvOp]) -> CheckResult {
    check(&KvRegister, ops, &CheckOptions::default()).expect("a valid history")
}

/// The illegal verdict's (blocked op, prefix, state); panics on any other verdict.
fn illegal(result: &CheckResult) -> (u64, Vec<u64>, String) {
    match &result.verdict {
        Verdict::Illegal(i) => (i.blocked, i.prefix.clone(), i.state.clone()),
        other => panic!("expected illegal, got {other:?}"),
    }
}

#[test]
fn a_stale_read_is_illegal_and_named() {
    let ops = [set(1, 1, "1", 0, 10), set(2, 1, "2", 20, 30), get(3, 2, Some("1"), 40, 50)];
    let (blocked, prefix, state) = illegal(&check_kv(&ops));
    assert_eq!(blocked, 3);
    assert_eq!(prefix, vec![1, 2]);
    assert_eq!(state, "\"2\"");
}

#[test]
fn a_lost_write_is_illegal_and_named() {
    let ops = [set(1, 1, "v", 0, 10), get(2, 2, None, 20, 30)];
    let (blocked, prefix, _) = illegal(&check_kv(&ops));
    assert_eq!((blocked, prefix), (2, vec![1]));
}

#[test]
fn a_read_of_a_value_never_written_is_illegal_and_named() {
    let ops = [set(1, 1, "a", 0, 10), get(2, 2, Some("a"), 5, 15), get(3, 1, Some("zz"), 20, 30)];
    let (blocked, _, state) = illegal(&check_kv(&ops));
    assert_eq!(blocked, 3);
    assert_eq!(state, "\"a\"");
}

#[test]
fn a_double_applied_increment_is_illegal_and_named() {
    // One INCR acknowledged with 1, then a read of 2: it was applied twice.
    let ops = [op(1, 1, KvInput::Incr(1), KvOutput::Int(1), 0, 10), get(2, 2, Some("2"), 20, 30)];
    assert_eq!(illegal(&check_kv(&ops)).0, 2);
    // Two INCRs, the second answered 3.
    let ops =
        [op(1, 1, KvInput::Incr(1), KvOutput::Int(1), 0, 10), op(2, 1, KvInput::Incr(1), KvOutput::Int(3), 20, 30)];
    assert_eq!(illegal(&check_kv(&ops)).0, 2);
}

#[test]
fn a_concurrent_order_no_serial_order_explains_is_illegal() {
    // Two concurrent writes, then two reads in sequence that see them in both orders.
    let ops = [
        set(1, 1, "1", 0, 100),
        set(2, 2, "2", 0, 100),
        get(3, 3, Some("1"), 110, 120),
        get(4, 3, Some("2"), 130, 140),
    ];
    let (blocked, prefix, state) = illegal(&check_kv(&ops));
    assert_eq!((blocked, prefix, state.as_str()), (4, vec![2, 1, 3], "\"1\""));
    // Two concurrent SET NX that both say they stored their value.
    let ops = [
        op(1, 1, KvInput::SetIfAbsent(b("a")), KvOutput::Stored(true), 0, 10),
        op(2, 2, KvInput::SetIfAbsent(b("b")), KvOutput::Stored(true), 1, 11),
    ];
    let (blocked, prefix, _) = illegal(&check_kv(&ops));
    assert_eq!((blocked, prefix), (2, vec![1]));
}

#[test]
fn concurrent_operations_may_take_effect_in_either_order() {
    let ops = [
        set(1, 1, "1", 0, 100),
        set(2, 2, "2", 0, 100),
        get(3, 3, Some("1"), 50, 60),
        get(4, 3, Some("2"), 70, 80),
        get(5, 4, Some("2"), 110, 120),
    ];
    let result = check_kv(&ops);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(result.linearizations[0].order, vec![1, 3, 2, 4, 5]);
}

#[test]
fn touching_intervals_are_concurrent() {
    // The get completes at the instant the set is invoked: either order is possible.
    let ops = [get(1, 1, Some("v"), 0, 10), set(2, 2, "v", 10, 20)];
    assert!(check_kv(&ops).is_ok());
}

#[test]
fn an_indeterminate_write_may_or_may_not_have_taken_effect() {
    let lost = with_outcome(set(1, 1, "v", 0, 10), Outcome::Indeterminate);
    for seen in [None, Some("v")] {
        let ops = [lost.clone(), get(2, 2, seen, 20, 30)];
        assert!(check_kv(&ops).is_ok(), "read of {seen:?}");
    }
    // It may take effect long after the client gave up on it, but only once.
    let ops = [
        lost.clone(),
        get(2, 2, None, 1_000, 1_010),
        get(3, 2, Some("v"), 2_000, 2_010),
        set(4, 2, "w", 3_000, 3_010),
        get(5, 2, Some("w"), 4_000, 4_010),
    ];
    assert!(check_kv(&ops).is_ok());
    let ops = [lost, get(2, 2, Some("v"), 1_000, 1_010), get(3, 2, None, 2_000, 2_010)];
    assert_eq!(illegal(&check_kv(&ops)).0, 3);
}

#[test]
fn a_retried_increment_counts_once_or_twice_when_the_first_try_is_indeterminate() {
    let ops = [
        with_outcome(op(1, 1, KvInput::Incr(1), KvOutput::Int(1), 0, 10), Outcome::Indeterminate),
        op(2, 1, KvInput::Incr(1), KvOutput::Int(2), 20, 30),
        get(3, 2, Some("2"), 40, 50),
    ];
    assert!(check_kv(&ops).is_ok());
}

/// `timed_out` indeterminate INCRs from the start, then reads one after another that see
/// each count from 0 to `seen`: which of the INCRs took effect is unknowable, and the search
/// places them in invocation order only (they are interchangeable), so it stays linear
/// where telling their subsets apart would take `2^timed_out` configurations.
fn timed_out_increments_then_reads(timed_out: u64, seen: u64) -> Vec<KvOp> {
    let increment = |id| with_outcome(op(id, id, KvInput::Incr(1), KvOutput::Int(0), id, id), Outcome::Indeterminate);
    let reads = (0..=seen).map(|n| {
        let at = 1_000 + 10 * n;
        op(1_000 + n, 999, KvInput::Get, KvOutput::Value((n > 0).then(|| b(&n.to_string()))), at, at + 5)
    });
    (0..timed_out).map(increment).chain(reads).collect()
}

#[test]
fn interchangeable_timed_out_increments_are_placed_in_invocation_order() {
    let result = check_kv(&timed_out_increments_then_reads(40, 40));
    assert!(result.is_ok(), "{:?}", result.verdict);
    assert!(result.steps < 100_000, "{} steps", result.steps);
    // More reads up than increments could explain is still caught.
    let mut too_many = timed_out_increments_then_reads(40, 41);
    assert_eq!(illegal(&check_kv(&too_many)).0, 1_041);
    // And a count going down.
    too_many.truncate(40 + 3);
    too_many.push(op(2_000, 999, KvInput::Get, KvOutput::Value(Some(b("1"))), 2_000, 2_005));
    assert_eq!(illegal(&check_kv(&too_many)).0, 2_000);
}

#[test]
fn a_failed_write_is_known_not_to_have_taken_effect() {
    let ops = [with_outcome(set(1, 1, "v", 0, 10), Outcome::Failed), get(2, 2, Some("v"), 20, 30)];
    assert_eq!(illegal(&check_kv(&ops)).0, 2);
}

#[test]
fn the_register_follows_redis_replies() {
    let ops = [
        op(1, 1, KvInput::Append(b("ab")), KvOutput::Int(2), 0, 1),
        op(2, 1, KvInput::Append(b("c")), KvOutput::Int(3), 2, 3),
        op(3, 1, KvInput::Incr(1), KvOutput::Error, 4, 5),
        op(4, 1, KvInput::Delete, KvOutput::Int(1), 6, 7),
        op(5, 1, KvInput::Delete, KvOutput::Int(0), 8, 9),
        op(6, 1, KvInput::Incr(-5), KvOutput::Int(-5), 10, 11),
        op(7, 1, KvInput::SetIfAbsent(b("z")), KvOutput::Stored(false), 12, 13),
        get(8, 1, Some("-5"), 14, 15),
        set(9, 1, "9223372036854775807", 16, 17),
        op(10, 1, KvInput::Incr(1), KvOutput::Error, 18, 19),
        get(11, 1, Some("9223372036854775807"), 20, 21),
    ];
    let result = check_kv(&ops);
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn the_first_illegal_key_in_key_order_is_reported_whatever_the_threads() {
    let mut ops = Vec::new();
    for k in 0..40u64 {
        let key = format!("k{k:02}");
        let mut history = [set(k * 10 + 1, k, "1", 0, 10), get(k * 10 + 2, 100 + k, Some("1"), 20, 30)];
        if k % 7 == 3 {
            history[1] = get(k * 10 + 2, 100 + k, Some("stale"), 20, 30);
        }
        for mut o in history {
            o.key = key.clone();
            ops.push(o);
        }
    }
    let results: Vec<CheckResult> = [1, 2, 4, 8]
        .into_iter()
        .map(|threads| check(&KvRegister, &ops, &CheckOptions { threads, ..CheckOptions::default() }).unwrap())
        .collect();
    match &results[0].verdict {
        Verdict::Illegal(i) => assert_eq!((i.key.as_str(), i.blocked), ("k03", 32)),
        other => panic!("expected illegal, got {other:?}"),
    }
    assert_eq!(results[0].linearizations.len(), 3, "the parts before k03");
    for result in &results[1..] {
        assert_eq!(result, &results[0]);
    }
}

#[test]
fn a_search_over_budget_is_unknown_and_says_which_keys() {
    let ops: Vec<KvOp> = (0..20).map(|i| set(i, i, "v", 0, 100)).chain([get(99, 99, Some("v"), 200, 300)]).collect();
    let options = CheckOptions { max_steps_per_part: 5, ..CheckOptions::default() };
    let result = check(&KvRegister, &ops, &options).unwrap();
    assert_eq!(result.verdict, Verdict::Unknown { keys: vec!["x".into()] });
    assert_eq!(result.steps, 5);
}

#[test]
fn the_counter_model_counts() {
    let add = |id, n, t| Operation {
        id,
        client_id: id,
        key: "c".into(),
        input: CounterInput::Add(n),
        outcome: Outcome::Ok(CounterOutput::Done),
        invoke_ns: t,
        complete_ns: Some(t + 5),
    };
    let read = |id, n, t| Operation {
        input: CounterInput::Read,
        outcome: Outcome::Ok(CounterOutput::Value(n)),
        ..add(id, 0, t)
    };
    let good = [add(1, 1, 0), add(2, 1, 2), read(3, 2, 10)];
    assert!(check(&Counter, &good, &CheckOptions::default()).unwrap().is_ok());
    let bad = [add(1, 1, 0), add(2, 1, 10), read(3, 3, 20)];
    let result = check(&Counter, &bad, &CheckOptions::default()).unwrap();
    assert_eq!(illegal(&result).0, 3);
}

#[test]
fn bad_histories_and_options_are_refused_naming_the_field() {
    let err =
        check(&KvRegister, &[set(1, 1, "v", 0, 10), set(1, 2, "w", 0, 10)], &CheckOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "operation 1: `id`: id 1 is used twice");
    let err = check(&KvRegister, &[set(1, 1, "v", 10, 5)], &CheckOptions::default()).unwrap_err();
    assert!(err.to_string().starts_with("operation 0: `complete_ns`"), "{err}");
    let mut open = set(1, 1, "v", 10, 20);
    open.complete_ns = None;
    let err = check(&KvRegister, &[open], &CheckOptions::default()).unwrap_err();
    assert!(err.to_string().starts_with("operation 0: `complete_ns`"), "{err}");
    let err = check(&KvRegister, &[], &CheckOptions { max_steps_per_part: 0, ..CheckOptions::default() }).unwrap_err();
    assert!(err.to_string().contains("max_steps_per_part"), "{err}");
}

fn record(kind: &str, input: RawValue, output: RawValue) -> Record {
    Record {
        id: 1,
        client_id: 1,
        key: "x".into(),
        kind: kind.into(),
        input,
        output,
        invoke_ns: 0,
        complete_ns: Some(1),
        outcome: RecordOutcome::Ok,
    }
}

#[test]
fn records_decode_per_model_and_bad_ones_name_their_field() {
    let options = CheckOptions::default();
    let ok = [record("incr", RawValue::Int(2), RawValue::Int(2))];
    assert!(check_records(ModelKind::KvRegister, &ok, &options).unwrap().is_ok());
    let cases = [
        (
            record("put", RawValue::Null, RawValue::Null),
            "operation 0: `kind`: unknown kind \"put\": expected one of get, set, incr, append, delete, set_if_absent",
        ),
        (record("set", RawValue::Int(1), RawValue::Null), "operation 0: `input`: expected a string, got an integer"),
        (
            record("get", RawValue::Null, RawValue::Int(1)),
            "operation 0: `output`: expected a string or null, got an integer",
        ),
        (
            record("incr", RawValue::Int(1), RawValue::Str(b("1"))),
            "operation 0: `output`: expected an integer or an error, got a string",
        ),
        (record("delete", RawValue::Null, RawValue::Int(2)), "operation 0: `output`: expected 0 or 1, got an integer"),
    ];
    for (bad, message) in cases {
        let err = check_records(ModelKind::KvRegister, &[bad], &options).unwrap_err();
        assert_eq!(err.to_string(), message);
    }
    // An indeterminate operation's output is not read.
    let mut lost = record("set", RawValue::Str(b("v")), RawValue::Int(7));
    lost.outcome = RecordOutcome::Indeterminate;
    assert!(check_records(ModelKind::KvRegister, &[lost], &options).unwrap().is_ok());
    let err =
        check_records(ModelKind::Counter, &[record("incr", RawValue::Int(1), RawValue::Null)], &options).unwrap_err();
    assert!(err.to_string().contains("expected one of add, read"), "{err}");
    assert_eq!(ModelKind::from_name("counter"), Some(ModelKind::Counter));
    assert_eq!(ModelKind::from_name("kv"), Some(ModelKind::KvRegister));
}

// --- properties ---------------------------------------------------------------------------

/// How one generated operation ends.
#[derive(Clone, Copy, Debug)]
enum Fate {
    Ok,
    /// The client gave up; the operation took effect (at its point) anyway.
    LostButApplied,
    /// The client gave up; it never took effect.
    LostNotApplied,
    /// Refused: never took effect.
    Failed,
}

/// A generated operation: which client, key and input, its timing within the client's turn,
/// and its fate.
#[derive(Clone, Debug)]
struct Planned {
    client: u64,
    key: u8,
    input: KvInput,
    gap_ns: u64,
    to_point_ns: u64,
    to_complete_ns: u64,
    fate: Fate,
}

fn input_strategy() -> impl Strategy<Value = KvInput> {
    let value = prop::sample::select(vec!["a", "b", "1", "22"]).prop_map(b);
    prop_oneof![
        3 => Just(KvInput::Get),
        2 => value.clone().prop_map(KvInput::Set),
        2 => (-2i64..3).prop_map(KvInput::Incr),
        1 => value.clone().prop_map(KvInput::Append),
        1 => Just(KvInput::Delete),
        1 => value.prop_map(KvInput::SetIfAbsent),
    ]
}

fn planned_strategy() -> impl Strategy<Value = Planned> {
    let fate = prop_oneof![14 => Just(Fate::Ok), 2 => Just(Fate::LostButApplied), 2 => Just(Fate::LostNotApplied), 1 => Just(Fate::Failed)];
    (0u64..6, 0u8..3, input_strategy(), 0u64..20, 0u64..30, 0u64..30, fate).prop_map(
        |(client, key, input, gap_ns, to_point_ns, to_complete_ns, fate)| Planned {
            client,
            key,
            input,
            gap_ns,
            to_point_ns,
            to_complete_ns,
            fate,
        },
    )
}

/// A register written independently of the model: applies `input`, returns the reply.
fn reference_apply(value: &mut Option<Vec<u8>>, input: &KvInput) -> KvOutput {
    match input {
        KvInput::Get => KvOutput::Value(value.clone().map(Bytes::from)),
        KvInput::Set(v) => {
            *value = Some(v.to_vec());
            KvOutput::Done
        }
        KvInput::Incr(by) => {
            let current = match value {
                None => Some(0i64),
                Some(v) => std::str::from_utf8(v).ok().and_then(|s| {
                    let canonical = s.parse::<i64>().ok()?;
                    (canonical.to_string() == s).then_some(canonical)
                }),
            };
            match current.and_then(|n| n.checked_add(*by)) {
                Some(n) => {
                    *value = Some(n.to_string().into_bytes());
                    KvOutput::Int(n)
                }
                None => KvOutput::Error,
            }
        }
        KvInput::Append(suffix) => {
            let v = value.get_or_insert_with(Vec::new);
            v.extend_from_slice(suffix);
            KvOutput::Int(v.len() as i64)
        }
        KvInput::Delete => KvOutput::Int(i64::from(value.take().is_some())),
        KvInput::SetIfAbsent(v) => {
            if value.is_some() {
                KvOutput::Stored(false)
            } else {
                *value = Some(v.to_vec());
                KvOutput::Stored(true)
            }
        }
    }
}

/// Runs the plan against the reference register: each client runs its operations in turn;
/// each takes effect (if it does) at its point, and replies come from the register then.
fn record_history(plan: &[Planned]) -> Vec<KvOp> {
    let mut client_now = [0u64; 6];
    let mut timed = Vec::new();
    for (id, p) in plan.iter().enumerate() {
        let invoke_ns = client_now[p.client as usize] + p.gap_ns;
        let point_ns = invoke_ns + p.to_point_ns;
        let complete_ns = point_ns + p.to_complete_ns;
        // A client that gives up moves on at once: the lost operation may land much later.
        let lost_point_ns = point_ns + 3 * p.to_complete_ns;
        client_now[p.client as usize] = complete_ns + 1;
        timed.push((id, invoke_ns, point_ns, complete_ns, lost_point_ns));
    }
    // Apply in point order (ties by id), so the recorded history is linearizable by design.
    let mut effects: Vec<(u64, usize)> = timed
        .iter()
        .filter_map(|&(id, _, point, _, lost_point)| match plan[id].fate {
            Fate::Ok => Some((point, id)),
            Fate::LostButApplied => Some((lost_point, id)),
            Fate::LostNotApplied | Fate::Failed => None,
        })
        .collect();
    effects.sort_unstable();
    let mut registers: [Option<Vec<u8>>; 3] = Default::default();
    let mut outputs = vec![None; plan.len()];
    for (_, id) in effects {
        outputs[id] = Some(reference_apply(&mut registers[plan[id].key as usize], &plan[id].input));
    }
    timed
        .into_iter()
        .map(|(id, invoke_ns, _, complete_ns, _)| {
            let p = &plan[id];
            let outcome = match p.fate {
                Fate::Ok => Outcome::Ok(outputs[id].clone().expect("applied")),
                Fate::LostButApplied | Fate::LostNotApplied => Outcome::Indeterminate,
                Fate::Failed => Outcome::Failed,
            };
            let complete_ns = match p.fate {
                Fate::LostButApplied | Fate::LostNotApplied => None,
                Fate::Ok | Fate::Failed => Some(complete_ns),
            };
            Operation {
                id: id as u64,
                client_id: p.client,
                key: format!("key{}", p.key),
                input: p.input.clone(),
                outcome,
                invoke_ns,
                complete_ns,
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn histories_of_a_correct_register_are_linearizable(plan in prop::collection::vec(planned_strategy(), 0..60)) {
        let ops = record_history(&plan);
        let result = check(&KvRegister, &ops, &CheckOptions::default()).unwrap();
        prop_assert!(result.is_ok(), "{:?}\n{:?}", result.verdict, ops);
        // Each part's linearization holds every operation with a known outcome.
        let placed: usize = result.linearizations.iter().map(|l| l.order.len()).sum();
        let known = ops.iter().filter(|o| matches!(o.outcome, Outcome::Ok(_))).count();
        prop_assert!(placed >= known);
    }

    #[test]
    fn a_read_of_a_value_never_written_is_always_caught(
        plan in prop::collection::vec(planned_strategy(), 1..40),
        pick in any::<prop::sample::Index>(),
    ) {
        let mut ops = record_history(&plan);
        let reads: Vec<usize> = (0..ops.len())
            .filter(|&i| ops[i].input == KvInput::Get && matches!(ops[i].outcome, Outcome::Ok(_)))
            .collect();
        prop_assume!(!reads.is_empty());
        let victim = reads[pick.index(reads.len())];
        ops[victim].outcome = Outcome::Ok(KvOutput::Value(Some(b("never written"))));
        let result = check(&KvRegister, &ops, &CheckOptions::default()).unwrap();
        let Verdict::Illegal(found) = &result.verdict else {
            return Err(TestCaseError::fail(format!("not caught: {:?}", result.verdict)));
        };
        prop_assert_eq!(found.blocked, ops[victim].id);
    }

    #[test]
    fn the_verdict_does_not_depend_on_threads(plan in prop::collection::vec(planned_strategy(), 0..60), flip in any::<prop::sample::Index>()) {
        let mut ops = record_history(&plan);
        if !ops.is_empty() {
            // Sometimes break a reply, so illegal verdicts are compared too.
            let i = flip.index(ops.len());
            if let Outcome::Ok(KvOutput::Int(n)) = ops[i].outcome {
                ops[i].outcome = Outcome::Ok(KvOutput::Int(n + 1));
            }
        }
        let one = check(&KvRegister, &ops, &CheckOptions { threads: 1, ..CheckOptions::default() }).unwrap();
        let four = check(&KvRegister, &ops, &CheckOptions { threads: 4, ..CheckOptions::default() }).unwrap();
        prop_assert_eq!(one, four);
    }

    #[test]
    fn memoization_does_not_change_the_verdict(plan in prop::collection::vec(planned_strategy(), 0..14)) {
        let ops = record_history(&plan);
        let memo = check(&KvRegister, &ops, &CheckOptions::default()).unwrap();
        let plain = check(&KvRegister, &ops, &CheckOptions { memoize: false, ..CheckOptions::default() }).unwrap();
        prop_assert_eq!(memo.verdict, plain.verdict);
    }
}
