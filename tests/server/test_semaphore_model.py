"""A hypothesis state machine: the server's semaphore against a simple model."""

import json
from collections import deque

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from dflock_integrations.server import run_in_thread

from helpers import Wire

LIMIT = 2
CLIENTS = 5


class SemaphoreMachine(RuleBasedStateMachine):
    """Clients enqueue, wait, release and disconnect; holders never exceed the limit,
    and grants follow the queue's order."""

    @initialize()
    def start(self):
        self.server_cm = run_in_thread()
        self.server = self.server_cm.__enter__()
        self.wires = [Wire(self.server.address) for _ in range(CLIENTS)]
        self.holding: dict[int, str] = {}
        self.queue: deque[int] = deque()

    def teardown(self):
        for w in self.wires:
            w.close()
        self.server_cm.__exit__(None, None, None)

    def _idle(self):
        return [i for i in range(CLIENTS) if i not in self.holding and i not in self.queue]

    @precondition(lambda self: self._idle())
    @rule(data=st.data())
    def enqueue(self, data):
        i = data.draw(st.sampled_from(self._idle()))
        answer = self.wires[i].ask("se", "sem", str(LIMIT))
        if len(self.holding) < LIMIT and not self.queue:
            assert answer.startswith("acquired ")
            self.holding[i] = answer.split()[1]
        else:
            assert answer == "queued"
            self.queue.append(i)

    @precondition(lambda self: self.holding)
    @rule(data=st.data())
    def release(self, data):
        i = data.draw(st.sampled_from(sorted(self.holding)))
        assert self.wires[i].ask("sr", "sem", self.holding.pop(i)) == "ok"
        self._promote()

    @precondition(lambda self: self.queue)
    @rule(data=st.data())
    def disconnect_waiter(self, data):
        i = data.draw(st.sampled_from(list(self.queue)))
        self.queue.remove(i)
        self.wires[i].close()
        self.wires[i] = Wire(self.server.address)
        self._wait_until_queue_is(len(self.queue))

    def _promote(self):
        while self.queue and len(self.holding) < LIMIT:
            i = self.queue.popleft()
            answer = self.wires[i].ask("sw", "sem", "5")
            assert answer.startswith("ok "), answer
            self.holding[i] = answer.split()[1]

    def _wait_until_queue_is(self, count):
        for _ in range(1000):
            if self._server_view()[1] == count:
                return
        raise AssertionError("the server did not withdraw a disconnected waiter")

    def _server_view(self):
        stats = json.loads(self.wires[0].ask("stats")[3:])
        entry = next((e for e in stats["semaphores"] if e["key"] == "sem"), None)
        return (entry["holders"], entry["waiters"]) if entry else (0, 0)

    @invariant()
    def matches_model(self):
        if hasattr(self, "server"):
            holders, waiters = self._server_view()
            assert holders == len(self.holding) <= LIMIT
            assert waiters == len(self.queue)


SemaphoreMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=15, deadline=None
)
test_semaphore_model = SemaphoreMachine.TestCase
