"""`senate chaos`: a real local cluster under faults, its clients' history checked.

- `control`: the fault switches of a `senate serve` process, over a Unix socket the chaos
  runner talks to (started only with `senate serve --fault-control PATH`);
- `nemesis`: the fault schedule drawn from a seed, and carrying it out;
- `workload`: the clients, recording every operation;
- `runner`: one run, start to report; `report`: the summary, the plot.
"""
