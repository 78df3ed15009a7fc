"""A replicated counter across three processes (the README's example).

    python examples/counter.py 1 & python examples/counter.py 2 & python examples/counter.py 3; wait

Each process runs one node of a 3-node cluster on 127.0.0.1:7101-7103, keeps its log in
counter-data/<id>, adds 1 to the shared counter ten times, and prints the counter once all
thirty additions are applied on its node.
"""

import asyncio
import contextlib
import sys

import senate


class Counter(senate.StateMachine):
    def __init__(self) -> None:
        self.value = 0

    @senate.replicated
    def add(self, n: int) -> int:
        self.value += n
        return self.value

    @senate.linearizable
    def get(self) -> int:
        return self.value


async def main(node_id: int) -> None:
    counter = Counter()
    peers = {1: "127.0.0.1:7101", 2: "127.0.0.1:7102", 3: "127.0.0.1:7103"}
    async with senate.Node(counter, id=node_id, peers=peers, data_dir=f"counter-data/{node_id}"):
        start = None
        while start is None:  # until the cluster has a leader
            with contextlib.suppress(senate.CallTimeout):
                start = await counter.get(timeout=1.0)
        for _ in range(10):
            await counter.add(1)  # returns once committed by a majority and applied here
        while counter.get.stale() < 30:  # everyone's additions, as applied on this node
            await asyncio.sleep(0.01)
        print(f"node {node_id}: counter = {counter.get.stale()}", flush=True)
        await asyncio.sleep(1.0)  # stay a while so that the others can finish too


if __name__ == "__main__":
    senate.run(main(int(sys.argv[1])))
