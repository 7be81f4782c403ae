"""The engine and the data it produces, knowing nothing of Xen: configuration, the
simulation context, the trace, and the registry extension points use."""
