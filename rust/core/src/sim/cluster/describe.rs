//! Events in words, for traces kept by `run_traced` (formatted only when lines are kept).

use crate::sim::client::ClientAction;
use crate::sim::network::Packet;
use crate::sim::protocol::SimProtocol;

pub(super) fn describe_packet(protocol: &impl SimProtocol, packet: &Packet) -> String {
    let route = format!("{} -> {}", packet.from, packet.to);
    if packet.corrupted {
        return format!("{route} corrupted frame");
    }
    format!("{route} {}", protocol.describe_frame(&packet.frame))
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
