"""The use cases: what amistate does with an event, a deploy, a pin, a reconcile run.

They depend on the core and on the ports, never on an adapter."""
