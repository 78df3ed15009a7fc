//! Events in words, for traces kept by `run_traced` (formatted only when lines are kept).

use crate::codec::{decode_message, DEFAULT_MAX_FRAME_BYTES};
use crate::raft::config::Config;
use crate::sim::client::ClientAction;
use crate::sim::faults::FaultProfile;
use crate::sim::network::Packet;

pub(super) fn describe_setup(config: &Config, profile: &FaultProfile) -> String {
    format!(
        "setup: {} nodes, pre_vote {}, check_quorum {}, read_only {:?}, max_entries_per_msg {}, max_inflight_msgs {}, faults {profile:?}",
        config.voters.len(),
        config.pre_vote,
        config.check_quorum,
        config.read_only,
        config.max_entries_per_msg,
        config.max_inflight_msgs
    )
}

pub(super) fn describe_packet(packet: &Packet) -> String {
    let route = format!("{} -> {}", packet.from, packet.to);
    if packet.corrupted {
        return format!("{route} corrupted frame");
    }
    match decode_message(&packet.frame, DEFAULT_MAX_FRAME_BYTES) {
        Ok(Some((m, _))) => format!(
            "{route} {:?} term {} log_term {} index {} commit {} entries {} reject {} hint {} context {}{}",
            m.msg_type,
            m.term,
            m.log_term,
            m.index,
            m.commit,
            m.entries.len(),
            m.reject,
            m.reject_hint,
            m.context,
            m.snapshot.as_ref().map_or(String::new(), |s| format!(" snapshot {}/{}", s.meta.index, s.meta.term))
        ),
        _ => format!("{route} undecodable frame"),
    }
}

pub(super) fn describe_request(request: &ClientAction) -> String {
    match request {
        ClientAction::Propose { position, payloads } => {
            format!("propose {} entries at node {}", payloads.len(), position + 1)
        }
        ClientAction::ReadIndex { position, request_id } => format!("read {request_id} at node {}", position + 1),
        ClientAction::TransferLeader { position, to } => {
            format!("transfer leadership to {to} via node {}", position + 1)
        }
        ClientAction::Campaign { position } => format!("campaign at node {}", position + 1),
        ClientAction::Compact { position } => format!("compact node {}", position + 1),
    }
}
