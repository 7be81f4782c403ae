"""What every host has: physical CPUs with hard IRQs and IRQ-off windows, spinlock calls,
the softirq machinery, timers and interrupt sources, and the seam shared with designs.

A host (Xen's, :mod:`taskletsim.hv`) is built from these parts plus its own;
nothing here imports a host.
"""
