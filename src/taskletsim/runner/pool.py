"""Where replications run: a process pool that stops cleanly on Ctrl-C, its memory share,
and a progress bar."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager

from .single import MEMORY_SHARE, available_memory


def progress_bar(total: int) -> Callable[[int, int], None]:
    """A tqdm bar on stderr, as a ``(done, total)`` callback that closes it at the end."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit="run", dynamic_ncols=True)

    def update(done: int, _total: int) -> None:
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops them (:func:`process_pool`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def worker_memory_mb(workers: int) -> float | None:
    """Each of ``workers`` runs' share of :data:`~taskletsim.runner.single.MEMORY_SHARE`
    of the memory available, MiB (``None`` when unknown)."""
    available = available_memory()
    if available is None:
        return None
    return available * MEMORY_SHARE / max(workers, 1) / 2**20


def default_executor(jobs: int | None = None) -> Executor | None:
    """A process pool of ``jobs`` workers (default: the CPU count); ``None`` for one.
    Its workers ignore Ctrl-C: the parent decides (see :func:`process_pool`)."""
    workers = jobs or os.cpu_count() or 1
    if workers < 2:
        return None
    return ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint)


@contextmanager
def process_pool(jobs: int | None = None) -> Iterator[Executor | None]:
    """:func:`default_executor` for a ``with`` block: shut down at the end, and on an
    exception its queued runs are cancelled and its workers terminated at once
    instead of finishing the runs they hold.

    Ctrl-C (SIGINT) in the block, in the main thread, terminates the workers from the
    signal handler and raises :class:`KeyboardInterrupt` when the block ends: the
    failed runs end any wait on them. Raised where the signal lands, it could stop
    ``concurrent.futures`` holding a future's lock (``as_completed`` takes them all),
    and the pool's shutdown would then wait for ever."""
    executor = default_executor(jobs)
    if not isinstance(executor, ProcessPoolExecutor):
        yield executor
        return
    pool = executor
    interrupted = False

    def stop_workers(_signum: int = 0, _frame: object = None) -> None:
        nonlocal interrupted
        interrupted = True
        _terminate_workers(pool)

    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, stop_workers) if on_main else None
    try:
        yield executor
    except BaseException:
        _terminate_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    else:
        pool.shutdown(cancel_futures=True)
        if interrupted:
            raise KeyboardInterrupt
    finally:
        if on_main:  # a handler not set from Python reads as None: the default then
            signal.signal(
                signal.SIGINT, signal.default_int_handler if previous is None else previous
            )


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """SIGTERM to every worker: no lock taken, so a signal handler may call it.
    ProcessPoolExecutor has no public way to stop running work before Python 3.14."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        process.terminate()
