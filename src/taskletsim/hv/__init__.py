"""The Xen host: its pCPUs (the idle loop, the VM-entry path, guest mode), guests and
their runstates, passthrough devices, the two interrupt paths, the credit scheduler,
and :mod:`.machine`, the one module that assembles them from these and the
parts every kernel has (:mod:`taskletsim.kernel`).

Code outside ``hv/`` and ``designs/`` imports only :mod:`.machine`, :mod:`.seam` and
:mod:`.vocabulary`.
"""
