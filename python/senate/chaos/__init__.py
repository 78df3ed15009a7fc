"""`senate chaos`: a real local cluster under faults, its clients' history checked.

- `control`: the fault switches of a `senate serve` process, over a Unix socket the chaos
  runner talks to (started only with `senate serve --fault-control PATH`);
- `netfilter`: partitions as nftables rules between per-node loopback addresses;
- `nemesis`: the fault schedule drawn from a seed, and carrying it out;
- `watch`: who leads, polled from outside;
- `workload`: the clients, recording every operation;
- `runner`: one run, from the cluster's start to the final reads;
- `checks`: the history against the linearizability checker, counters and appends;
- `report`: the summary, the plot.
"""
