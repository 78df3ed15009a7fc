"""The asyncio runtime that drives a consensus core, one part per module:

- `node`: the `Node` (the public calls, status), which owns and wires the parts;
- `lifecycle`: starting them (the log, the core's driver, the transport) and stopping them,
  in order;
- `driver`: the policy that carries out the core's Readies (writes in flight and the stall
  rule, apply slices and the backlog, when reads are served); the one module a sans-IO
  driver in the core is to replace;
- `inputs`: ticks, peer frames and lost peers, left for the driver;
- `calls`: calls in flight (the envelope, sequence numbers, deadlines, answering callers);
- `reads`: read barriers (waiting, issued, confirmed, retried, served);
- `snapshots`: when to snapshot, the snapshot job, compaction, restoring;
- `core`: what the runtime needs of a core and of a state machine (protocols);
- `transport`, `metrics`, `loop`: peer connections, Prometheus metrics, the event loop.

This package imports none of its modules: importing one part (the transport's address
parser, say) does not load the node. The public API (`senate.Node`, `senate.run`) is
re-exported by `senate`.
"""
