"""Hardware without a hypervisor: topology, spinlocks, interrupt arrival processes, and the
closed forms the lock models are validated against."""
