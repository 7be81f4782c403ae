"""A bare-metal Linux host: hard IRQs, ``__do_softirq`` and ``ksoftirqd``, tasks on a
fair scheduler with Linux's time accounting; the tasklet designs that run on it see it
through :mod:`taskletsim.linux.seam`, and :mod:`taskletsim.linux.machine` builds it."""
