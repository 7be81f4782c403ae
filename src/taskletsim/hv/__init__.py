"""The Xen host: physical CPUs, interrupt sources and timers, guests, the two interrupt
paths, the scheduler, and :mod:`.machine`, the one module that assembles them.

Code outside ``hv/`` and ``designs/`` imports only :mod:`.machine` and :mod:`.seam`.
"""
