"""The pure core: values, ordering rules and desired state; no I/O, no AWS."""
