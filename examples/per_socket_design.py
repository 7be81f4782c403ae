"""A tasklet design written outside the package: one queue and one lock per socket.

Any CPU of a socket may run the socket's tasklets, and a lock is shared only
by the CPUs of one socket, so the line never crosses the interconnect.
Register it, then run it by name like a built-in design:

    python examples/per_socket_design.py
"""

from __future__ import annotations

from typing import Any

import taskletsim as ts


@ts.register_design
class PerSocket(ts.TaskletDesign):
    """One list and one spinlock per socket; the rest as in Xen 4.4."""

    name = "per-socket"
    description = "example: one tasklet list and one lock per socket"
    softirqs = (("TASKLET_SOFTIRQ_SOCKET", "TASKLET_SOFTIRQ"),)

    def __init__(self, machine: Any) -> None:
        super().__init__(machine)
        sockets = machine.topology.sockets
        self.socket_of = machine.topology.socket_list
        self.locks = [machine.make_lock(f"socket{s}_tasklet_lock") for s in range(sockets)]
        self.queues: list[dict[ts.Tasklet, None]] = [{} for _ in range(sockets)]
        self.NR = machine.softirq_nr["TASKLET_SOFTIRQ_SOCKET"]

    def softirq_handlers(self) -> dict[str, Any]:
        return {"TASKLET_SOFTIRQ_SOCKET": self.socket_tasklet_action}

    def tasklet_schedule_on_cpu(self, cpu: Any, t: ts.Tasklet, target: int, cause: int = -1) -> Any:
        socket = self.socket_of[target]
        flags = yield from cpu.spin_lock_irqsave(self.locks[socket])
        if not t.is_dead:
            self.traced_schedule(cpu, t, cause)
            t.scheduled_on = target
            if not t.is_running and t not in self.queues[socket]:
                self.queues[socket][t] = None
                yield from cpu.cpu_raise_softirq(target, self.NR)
        yield from cpu.spin_unlock_irqrestore(self.locks[socket], flags)

    def socket_tasklet_action(self, cpu: Any) -> Any:
        socket = self.socket_of[cpu.id]
        lock, queue = self.locks[socket], self.queues[socket]
        yield from cpu.spin_lock_irq(lock)
        if queue:
            t = next(iter(queue))
            del queue[t]
            t.is_running, t.scheduled_on = True, -1
            self.traced_claim(cpu, t)
            yield from cpu.spin_unlock_irq(lock)
            yield from self.run_tasklet(cpu, t)
            yield from cpu.spin_lock_irq(lock)
            t.is_running = False
            if t.scheduled_on >= 0:
                queue[t] = None
        if queue:
            cpu.raise_softirq(self.NR)
        yield from cpu.spin_unlock_irq(lock)

    def tasklet_kill(self, cpu: Any, t: ts.Tasklet) -> Any:
        t.is_dead = True
        while t.is_running:
            yield from cpu.work(50)

    def migrate_tasklets_from_cpu(self, cpu: Any, dead: int) -> Any:
        if self.queues[self.socket_of[dead]]:  # the socket's other CPUs run them
            cpu.raise_softirq(self.NR)
        return
        yield


def main() -> None:
    results = [
        ts.run("small-2socket", design=name, seed=1, duration_ms=20)
        for name in ("xen-4.4-global", "per-socket")
    ]
    print(ts.format_comparison(results))


if __name__ == "__main__":
    main()
