"""amistate: keep the AMI of every spot-runner preset current.

Image Builder build events become ordered state transitions on one DynamoDB
record per preset and a merge of that preset's SSM parameter, correctly under
at-least-once, unordered, concurrent delivery.

The pure core lives in :mod:`amistate.events`, :mod:`amistate.parsing`,
:mod:`amistate.rules` (the ordering rules, all of them) and
:mod:`amistate.merge`; :mod:`amistate.ports` declares what the core needs from
AWS; :mod:`amistate.service` runs one event through the ports.
"""

from amistate.errors import AmistateError, MalformedEvent

__all__ = ["AmistateError", "MalformedEvent"]
__version__ = "0.1.0"
