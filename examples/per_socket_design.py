"""A tasklet design written outside the package: one queue and one lock per socket.

Any CPU of a socket may run the socket's tasklets, and a lock is shared only by the
CPUs of one socket, so its line never crosses the interconnect. Registered, it runs by
name like a built-in (``python examples/per_socket_design.py``), and it passes
``taskletsim.testing.check_design("per-socket")``.
"""

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
            if not t.is_running and t.list_cpu < 0:  # not queued on any socket yet
                self.queues[socket][t] = None
                t.list_cpu = socket
                yield from cpu.cpu_raise_softirq(target, self.NR)
        yield from cpu.spin_unlock_irqrestore(self.locks[socket], flags)

    def socket_tasklet_action(self, cpu: Any) -> Any:
        socket = self.socket_of[cpu.id]
        lock, queue = self.locks[socket], self.queues[socket]
        yield from cpu.spin_lock_irq(lock)
        if queue:
            t = next(iter(queue))
            del queue[t]
            t.is_running, t.scheduled_on, t.list_cpu = True, -1, -1
            self.traced_claim(cpu, t)
            yield from cpu.spin_unlock_irq(lock)
            yield from self.run_tasklet(cpu, t)
            yield from cpu.spin_lock_irq(lock)
            t.is_running = False
            if t.scheduled_on >= 0:
                queue[t], t.list_cpu = None, socket
        if queue:
            cpu.raise_softirq(self.NR)
        yield from cpu.spin_unlock_irq(lock)

    def tasklet_kill(self, cpu: Any, t: ts.Tasklet) -> Any:
        t.is_dead = True  # schedules are ignored from now on; unqueue it, wait out a run
        while t.list_cpu >= 0 or t.is_running:
            socket = t.list_cpu
            if socket < 0:
                yield from cpu.work(50)
                continue
            flags = yield from cpu.spin_lock_irqsave(self.locks[socket])
            if t.list_cpu == socket:
                del self.queues[socket][t]
                t.list_cpu = -1
            yield from cpu.spin_unlock_irqrestore(self.locks[socket], flags)

    def migrate_tasklets_from_cpu(self, cpu: Any, dead: int) -> Any:
        socket = self.socket_of[dead]  # a live CPU of the socket runs its queue, else this one
        live = [c.id for c in self.machine.cpus if c.online and self.socket_of[c.id] == socket]
        target = live[0] if live else cpu.id
        if not live:  # the whole socket is down: its queue joins this CPU's socket's
            for t in self.queues[socket]:
                t.list_cpu = self.socket_of[target]
            self.queues[self.socket_of[target]].update(self.queues[socket])
            self.queues[socket].clear()
        if self.queues[self.socket_of[target]]:
            yield from cpu.cpu_raise_softirq(target, self.NR)


def main() -> None:
    results = [
        ts.run("small-2socket", design=name, seed=1, duration_ms=20)
        for name in ("xen-4.4-global", "per-socket")
    ]
    print(ts.format_comparison(results))


if __name__ == "__main__":
    main()
