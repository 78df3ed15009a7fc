//! The Raft paper's statements, checked one by one (as etcd-io/raft's `raft_paper_test.go`).
//!
//! Each test quotes the sentence of "In Search of an Understandable Consensus Algorithm
//! (Extended Version)" it checks, with its section. The nodes run plain Raft (no pre-vote, no
//! check-quorum) unless a test says otherwise; messages are built by hand and stepped into a
//! single `RawNode`, whose `Ready` is then inspected.

use bytes::Bytes;
use senate_core::{
    Config, Entry, EntryKind, HardState, Index, MemStorage, Message, MessageType, NodeId, RawNode, Ready, Role,
    Storage, Term,
};

const ELECTION_TICKS: u32 = 10;
const HEARTBEAT_TICKS: u32 = 1;

fn config(id: NodeId, voters: u64) -> Config {
    let mut cfg = Config::new(id, (1..=voters).collect());
    cfg.pre_vote = false;
    cfg.check_quorum = false;
    cfg.election_timeout_ticks = ELECTION_TICKS;
    cfg.heartbeat_interval_ticks = HEARTBEAT_TICKS;
    cfg
}

fn entry(index: Index, term: Term) -> Entry {
    Entry { index, term, kind: EntryKind::Normal, data: Bytes::from(format!("{index}/{term}")) }
}

/// Node `id` of a cluster of `voters`, restarted from storage holding `hs` and a log whose
/// entry `i` (from 1) has term `log_terms[i - 1]`.
fn node_with(id: NodeId, voters: u64, hs: HardState, log_terms: &[Term]) -> RawNode<MemStorage> {
    let mut storage = MemStorage::new((1..=voters).collect());
    let entries: Vec<Entry> = log_terms.iter().enumerate().map(|(i, &t)| entry(i as Index + 1, t)).collect();
    storage.append(&entries);
    storage.set_hard_state(hs);
    RawNode::new(&config(id, voters), storage).expect("valid node")
}

fn fresh(id: NodeId, voters: u64) -> RawNode<MemStorage> {
    node_with(id, voters, HardState::default(), &[])
}

/// Handles the pending `Ready` (persist, advance) and returns it.
fn take_ready(node: &mut RawNode<MemStorage>) -> Ready {
    let rd = node.ready();
    node.storage_mut().persist(rd.snapshot.as_ref(), rd.entries.clone(), rd.hard_state).expect("newer snapshot");
    node.advance();
    rd
}

/// Every message of the pending `Ready`, whichever list it is in.
fn take_msgs(node: &mut RawNode<MemStorage>) -> Vec<Message> {
    let rd = take_ready(node);
    rd.messages.into_iter().chain(rd.persisted_messages).collect()
}

fn msg(msg_type: MessageType, from: NodeId, to: NodeId, term: Term) -> Message {
    Message::new(msg_type, from, to, term)
}

fn vote_req(from: NodeId, to: NodeId, term: Term, last_index: Index, last_term: Term) -> Message {
    let mut m = msg(MessageType::Vote, from, to, term);
    m.index = last_index;
    m.log_term = last_term;
    m
}

fn append(
    from: NodeId,
    to: NodeId,
    term: Term,
    prev: (Index, Term),
    entries: &[(Index, Term)],
    commit: Index,
) -> Message {
    let mut m = msg(MessageType::Append, from, to, term);
    m.index = prev.0;
    m.log_term = prev.1;
    m.commit = commit;
    m.entries = entries.iter().map(|&(i, t)| entry(i, t)).collect();
    m
}

fn append_resp(from: NodeId, to: NodeId, term: Term, index: Index) -> Message {
    let mut m = msg(MessageType::AppendResp, from, to, term);
    m.index = index;
    m
}

fn log_terms(node: &RawNode<MemStorage>) -> Vec<Term> {
    let s = node.storage();
    s.entries(s.first_index(), s.last_index() + 1, usize::MAX).expect("readable").iter().map(|e| e.term).collect()
}

fn of_type(msgs: &[Message], t: MessageType) -> Vec<Message> {
    msgs.iter().filter(|m| m.msg_type == t).cloned().collect()
}

/// Makes `node` (plain Raft) the leader of the next term with the votes of `voters`.
fn elect(node: &mut RawNode<MemStorage>, voters: &[NodeId]) {
    node.campaign();
    let term = node.status().term;
    take_msgs(node);
    for &v in voters {
        node.step(msg(MessageType::VoteResp, v, node.id(), term)).expect("vote response");
    }
    assert_eq!(node.status().role, Role::Leader, "elect: node {} did not win", node.id());
}

/// §5.2: "If a follower receives no communication over a period of time called the election
/// timeout, then it assumes there is no viable leader and begins an election to choose a new
/// leader. To begin an election, a follower increments its current term and transitions to
/// candidate state."
#[test]
fn follower_without_communication_starts_an_election() {
    let mut n = fresh(1, 3);
    for _ in 0..2 * ELECTION_TICKS {
        n.tick();
    }
    let st = n.status();
    assert_eq!((st.role, st.term), (Role::Candidate, 1));
    let votes = of_type(&take_msgs(&mut n), MessageType::Vote);
    let to: Vec<NodeId> = votes.iter().map(|m| m.to).collect();
    assert_eq!(to, vec![2, 3], "a candidate asks every other server");
    assert!(votes.iter().all(|m| m.term == 1));
}

/// §5.2: "A server remains in follower state as long as it receives valid RPCs from a leader
/// or candidate. Leaders send periodic heartbeats ... to all followers in order to maintain
/// their authority."
#[test]
fn follower_hearing_from_leader_does_not_start_an_election() {
    let mut n = node_with(1, 3, HardState::new(1, 2, 0), &[]);
    for _ in 0..10 * ELECTION_TICKS {
        n.tick();
        n.step(msg(MessageType::Heartbeat, 2, 1, 1)).unwrap();
    }
    let st = n.status();
    assert_eq!((st.role, st.term, st.leader), (Role::Follower, 1, 2));
}

/// §5.2: "It then votes for itself and issues RequestVote RPCs in parallel to each of the
/// other servers"; Figure 2: persistent state (currentTerm, votedFor) is "updated on stable
/// storage before responding to RPCs".
#[test]
fn candidate_votes_for_itself_and_persists_the_vote_before_asking() {
    let mut n = fresh(1, 3);
    n.campaign();
    let rd = take_ready(&mut n);
    assert_eq!(rd.hard_state, Some(HardState::new(1, 1, 0)));
    assert!(rd.messages.iter().all(|m| m.msg_type != MessageType::Vote), "votes must wait for the fsync");
    assert_eq!(of_type(&rd.persisted_messages, MessageType::Vote).len(), 2);
}

/// Figure 2, RequestVote arguments: "lastLogIndex: index of candidate's last log entry;
/// lastLogTerm: term of candidate's last log entry".
#[test]
fn candidate_sends_its_last_log_position() {
    let mut n = node_with(1, 3, HardState::new(2, 0, 0), &[1, 1, 2]);
    n.campaign();
    for m in of_type(&take_msgs(&mut n), MessageType::Vote) {
        assert_eq!((m.term, m.index, m.log_term), (3, 3, 2));
    }
}

/// §5.2: "A candidate wins an election if it receives votes from a majority of the servers in
/// the full cluster for the same term."
#[test]
fn candidate_wins_with_votes_from_a_majority() {
    let mut n = fresh(1, 5);
    n.campaign();
    take_msgs(&mut n);
    n.step(msg(MessageType::VoteResp, 2, 1, 1)).unwrap();
    assert_eq!(n.status().role, Role::Candidate, "2 of 5 votes are not a majority");
    let mut refused = msg(MessageType::VoteResp, 4, 1, 1);
    refused.reject = true;
    n.step(refused).unwrap();
    assert_eq!(n.status().role, Role::Candidate);
    n.step(msg(MessageType::VoteResp, 3, 1, 1)).unwrap();
    assert_eq!(n.status().role, Role::Leader, "3 of 5 votes are a majority");
}

/// §5.2: "If the leader's term (included in its RPC) is at least as large as the candidate's
/// current term, then the candidate recognizes the leader as legitimate and returns to
/// follower state."
#[test]
fn candidate_steps_down_on_append_entries_of_its_term() {
    let mut n = fresh(1, 3);
    n.campaign();
    take_msgs(&mut n);
    n.step(append(2, 1, 1, (0, 0), &[], 0)).unwrap();
    let st = n.status();
    assert_eq!((st.role, st.term, st.leader), (Role::Follower, 1, 2));
}

/// §5.2: "each candidate will time out and start a new election by incrementing its term and
/// initiating another round of RequestVote RPCs."
#[test]
fn candidate_without_majority_starts_a_new_election_after_a_timeout() {
    let mut n = fresh(1, 3);
    n.campaign();
    take_msgs(&mut n);
    for _ in 0..2 * ELECTION_TICKS {
        n.tick();
    }
    assert_eq!((n.status().role, n.status().term), (Role::Candidate, 2));
    assert_eq!(of_type(&take_msgs(&mut n), MessageType::Vote).len(), 2);
}

/// §5.2: "Each server will vote for at most one candidate in a given term, on a
/// first-come-first-served basis."
#[test]
fn a_node_grants_at_most_one_vote_per_term() {
    let mut n = fresh(1, 3);
    n.step(vote_req(2, 1, 1, 0, 0)).unwrap();
    n.step(vote_req(3, 1, 1, 0, 0)).unwrap();
    // A repeated request from the candidate voted for is granted again (the first answer
    // may have been lost).
    n.step(vote_req(2, 1, 1, 0, 0)).unwrap();
    let answers: Vec<(NodeId, bool)> =
        of_type(&take_msgs(&mut n), MessageType::VoteResp).iter().map(|m| (m.to, !m.reject)).collect();
    assert_eq!(answers, vec![(2, true), (3, false), (2, true)]);
    assert_eq!(n.storage().hard_state().vote, 2);
}

/// §5.4.1: "the voter denies its vote if its own log is more up-to-date than that of the
/// candidate. ... If the logs have last entries with different terms, then the log with the
/// later term is more up-to-date. If the logs end with the same term, then whichever log is
/// longer is more up-to-date."
#[test]
fn votes_go_to_candidates_with_up_to_date_logs_only() {
    // The voter's log: terms [1, 2, 2] (last entry 3/2).
    let cases: [(Index, Term, bool); 7] = [
        (3, 2, true),  // same last entry
        (4, 2, true),  // same last term, longer
        (2, 2, false), // same last term, shorter
        (1, 3, true),  // later last term, shorter
        (9, 1, false), // earlier last term, longer
        (3, 1, false), // earlier last term, same length
        (0, 0, false), // empty log
    ];
    for (last_index, last_term, granted) in cases {
        let mut n = node_with(1, 3, HardState::new(2, 0, 0), &[1, 2, 2]);
        n.step(vote_req(2, 1, 3, last_index, last_term)).unwrap();
        let resp = take_msgs(&mut n).into_iter().find(|m| m.msg_type == MessageType::VoteResp).expect("an answer");
        assert_eq!(!resp.reject, granted, "candidate log ending at {last_index}/{last_term}");
    }
}

/// §5.1: "If one server's current term is smaller than the other's, then it updates its
/// current term to the larger value. If a candidate or leader discovers that its term is out
/// of date, it immediately reverts to follower state."
#[test]
fn a_leader_or_candidate_seeing_a_higher_term_becomes_a_follower() {
    let mut leader = fresh(1, 3);
    elect(&mut leader, &[2]);
    leader.step(append_resp(2, 1, 5, 0)).unwrap();
    assert_eq!((leader.status().role, leader.status().term), (Role::Follower, 5));

    let mut candidate = fresh(1, 3);
    candidate.campaign();
    candidate.step(vote_req(3, 1, 4, 0, 0)).unwrap();
    assert_eq!((candidate.status().role, candidate.status().term), (Role::Follower, 4));
}

/// §5.1: "If a server receives a request with a stale term number, it rejects the request."
#[test]
fn requests_with_a_stale_term_are_rejected() {
    let mut n = node_with(1, 3, HardState::new(3, 0, 0), &[1, 1]);
    n.step(vote_req(2, 1, 2, 9, 2)).unwrap();
    n.step(append(2, 1, 2, (2, 1), &[(3, 2)], 0)).unwrap();
    let msgs = take_msgs(&mut n);
    assert!(of_type(&msgs, MessageType::VoteResp).iter().all(|m| m.reject), "no vote for a stale candidate");
    assert_eq!(log_terms(&n), vec![1, 1], "no entries from a stale leader");
    assert_eq!(n.status().term, 3);
}

/// §5.4.2 and §8: "each leader commit a blank no-op entry into the log at the start of its
/// term", which it then replicates: "the leader appends the command to its log as a new entry,
/// then issues AppendEntries RPCs in parallel to each of the other servers".
#[test]
fn a_new_leader_appends_a_noop_and_replicates_it() {
    let mut n = node_with(1, 3, HardState::new(1, 0, 0), &[1]);
    elect(&mut n, &[2]);
    let rd = take_ready(&mut n);
    assert_eq!(rd.entries.len(), 1);
    let noop = &rd.entries[0];
    assert_eq!((noop.index, noop.term, noop.kind), (2, 2, EntryKind::NoOp));
    let appends = of_type(&rd.messages, MessageType::Append);
    assert_eq!(appends.len(), 2, "sent to every follower, before the leader's own fsync");
    for m in appends {
        assert_eq!((m.index, m.log_term, m.entries.len()), (1, 1, 1));
    }
}

/// §5.2: "Leaders send periodic heartbeats (AppendEntries RPCs that carry no log entries) to
/// all followers in order to maintain their authority."
#[test]
fn a_leader_sends_heartbeats_every_interval() {
    let mut n = fresh(1, 3);
    elect(&mut n, &[2]);
    take_msgs(&mut n);
    for _ in 0..HEARTBEAT_TICKS {
        n.tick();
    }
    let beats: Vec<NodeId> = of_type(&take_msgs(&mut n), MessageType::Heartbeat).iter().map(|m| m.to).collect();
    assert_eq!(beats, vec![2, 3]);
}

/// §5.3: "If the follower does not find an entry in its log with the same index and term, then
/// it refuses the new entries." (Figure 2: "Reply false if log doesn't contain an entry at
/// prevLogIndex whose term matches prevLogTerm".)
#[test]
fn a_follower_rejects_append_entries_whose_prev_does_not_match() {
    for prev in [(3, 2), (4, 1)] {
        let mut n = node_with(1, 3, HardState::new(2, 0, 0), &[1, 1, 1]);
        n.step(append(2, 1, 2, prev, &[(prev.0 + 1, 2)], 0)).unwrap();
        let resp = take_msgs(&mut n).into_iter().find(|m| m.msg_type == MessageType::AppendResp).expect("answer");
        assert!(resp.reject, "prev {prev:?}");
        assert_eq!(log_terms(&n), vec![1, 1, 1], "prev {prev:?}: the log is unchanged");
    }
}

/// Figure 2: "If an existing entry conflicts with a new one (same index but different terms),
/// delete the existing entry and all that follow it. Append any new entries not already in the
/// log."
#[test]
fn a_follower_deletes_conflicting_entries_and_appends_new_ones() {
    let mut n = node_with(1, 3, HardState::new(2, 0, 0), &[1, 1, 1, 1]);
    n.step(append(2, 1, 2, (2, 1), &[(3, 2), (4, 2), (5, 2)], 0)).unwrap();
    let resp = take_msgs(&mut n).into_iter().find(|m| m.msg_type == MessageType::AppendResp).expect("answer");
    assert_eq!((resp.reject, resp.index), (false, 5));
    assert_eq!(log_terms(&n), vec![1, 1, 2, 2, 2]);
}

/// Figure 2 deletes entries only on a conflict: an AppendEntries carrying entries the follower
/// already has (a delayed or duplicated RPC) must not truncate the entries after them.
#[test]
fn a_follower_keeps_its_log_on_entries_it_already_has() {
    let mut n = node_with(1, 3, HardState::new(2, 0, 0), &[1, 2, 2]);
    n.step(append(2, 1, 2, (1, 1), &[(2, 2)], 0)).unwrap();
    take_msgs(&mut n);
    assert_eq!(log_terms(&n), vec![1, 2, 2]);
}

/// Figure 2: "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last
/// new entry)".
#[test]
fn a_follower_commits_up_to_the_leader_commit_within_what_it_was_sent() {
    let mut n = node_with(1, 3, HardState::new(2, 0, 0), &[1, 1, 1, 7]);
    // Entries up to 3 are known to match; the leader has committed 4, but the entry at 4 here
    // is stale (term 7 does not come from this leader): only 3 may be committed.
    n.step(append(2, 1, 8, (2, 1), &[(3, 1)], 4)).unwrap();
    assert_eq!(n.status().commit, 3);
    let rd = take_ready(&mut n);
    let applied: Vec<Index> = rd.committed_entries.iter().map(|e| e.index).collect();
    assert_eq!(applied, vec![1, 2, 3], "committed entries are applied in log order");
}

/// §5.3: "A log entry is committed once the leader that created the entry has replicated it on
/// a majority of the servers"; "the leader ... applies the entry to its state machine".
#[test]
fn a_leader_commits_an_entry_stored_on_a_majority() {
    let mut n = fresh(1, 5);
    elect(&mut n, &[2, 3]);
    n.propose(Bytes::from_static(b"x")).unwrap();
    take_msgs(&mut n); // the leader's own append of [1: no-op, 2: x] is now durable
    n.step(append_resp(2, 1, 1, 2)).unwrap();
    assert_eq!(n.status().commit, 0, "2 of 5 copies are not a majority");
    n.step(append_resp(3, 1, 1, 2)).unwrap();
    assert_eq!(n.status().commit, 2);
    let rd = take_ready(&mut n);
    let applied: Vec<Index> = rd.committed_entries.iter().map(|e| e.index).collect();
    assert_eq!(applied, vec![1, 2]);
}

/// §5.4.2: "Raft never commits log entries from previous terms by counting replicas. Only log
/// entries from the leader's current term are committed by counting replicas; once an entry
/// from the current term has been committed in this way, then all prior entries are committed
/// indirectly because of the Log Matching Property."
#[test]
fn a_leader_commits_only_entries_of_its_own_term_by_counting() {
    // 1 leads term 3 with old entries 1/1 and 2/2 and its no-op at 3/3.
    let mut n = node_with(1, 3, HardState::new(2, 0, 0), &[1, 2]);
    elect(&mut n, &[2]);
    take_msgs(&mut n);
    n.step(append_resp(2, 1, 3, 2)).unwrap();
    assert_eq!(n.status().commit, 0, "2/2 is on a majority but of an earlier term");
    n.step(append_resp(2, 1, 3, 3)).unwrap();
    assert_eq!(n.status().commit, 3, "3/3 commits, and 1/1 and 2/2 with it");
}

/// §5.3: "After a rejection, the leader decrements nextIndex and retries the AppendEntries
/// RPC. Eventually nextIndex will reach a point where the leader and follower logs match."
#[test]
fn a_leader_backs_up_after_a_rejection_until_the_logs_match() {
    // The leader's log: 1/1 2/1 3/2, then its no-op 4/3. The follower holds 1/1 only.
    let mut leader = node_with(1, 3, HardState::new(2, 0, 0), &[1, 1, 2]);
    let mut follower = node_with(2, 3, HardState::new(2, 0, 0), &[1]);
    elect(&mut leader, &[3]);
    let mut to_follower: Vec<Message> =
        take_msgs(&mut leader).into_iter().filter(|m| m.to == 2 && m.msg_type == MessageType::Append).collect();
    for _ in 0..5 {
        let Some(m) = to_follower.pop() else { break };
        follower.step(m).unwrap();
        let resps = take_msgs(&mut follower);
        for r in resps {
            leader.step(r).unwrap();
        }
        to_follower = take_msgs(&mut leader).into_iter().filter(|m| m.to == 2).collect();
    }
    assert_eq!(log_terms(&follower), vec![1, 1, 2, 3]);
    let peer = leader.status().peers.into_iter().find(|p| p.id == 2).expect("peer 2");
    assert_eq!(peer.match_index, 4);
}

/// §5.2: "Raft uses randomized election timeouts to ensure that split votes are rare ...
/// election timeouts are chosen randomly from a fixed interval". Here: drawn from
/// `[election_timeout, 2 * election_timeout)` by a seeded generator.
#[test]
fn election_timeouts_are_randomized_within_the_interval() {
    let mut timeouts = std::collections::BTreeSet::new();
    for seed in 0..50u64 {
        let mut cfg = config(1, 3);
        cfg.seed = seed;
        let mut n = RawNode::new(&cfg, MemStorage::new(vec![1, 2, 3])).unwrap();
        let mut ticks = 0;
        while n.status().role == Role::Follower {
            n.tick();
            ticks += 1;
            assert!(ticks < 2 * ELECTION_TICKS, "seed {seed}: no election within 2 timeouts");
        }
        assert!(ticks >= ELECTION_TICKS, "seed {seed}: election after {ticks} ticks");
        timeouts.insert(ticks);
    }
    assert!(timeouts.len() >= 5, "timeouts barely vary: {timeouts:?}");
}

/// §5.4.1 (Leader Completeness), seen from the vote: a node that missed a committed entry
/// cannot become leader, because a majority holding the entry refuses it.
#[test]
fn a_node_missing_a_committed_entry_cannot_win() {
    // 1 has the committed entry 2/1; 2 and 3 as well; 4 and 5 do not.
    let with_entry = HardState::new(1, 0, 2);
    let mut candidate = node_with(5, 5, HardState::new(1, 0, 1), &[1]);
    candidate.campaign();
    let requests = of_type(&take_msgs(&mut candidate), MessageType::Vote);
    let mut granted = 1;
    for req in requests {
        let (hs, log): (HardState, &[Term]) =
            if req.to <= 3 { (with_entry, &[1, 1]) } else { (HardState::new(1, 0, 1), &[1]) };
        let mut voter = node_with(req.to, 5, hs, log);
        voter.step(req).unwrap();
        let resp = take_msgs(&mut voter).into_iter().find(|m| m.msg_type == MessageType::VoteResp).expect("answer");
        granted += usize::from(!resp.reject);
        candidate.step(resp).unwrap();
    }
    assert_eq!(granted, 2, "only 4 (and the candidate itself) vote for it");
    assert_ne!(candidate.status().role, Role::Leader);
}
