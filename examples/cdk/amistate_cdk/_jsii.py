"""Quiet jsii's Node.js support banner; imported by the package before anything starts jsii."""

from __future__ import annotations

import os

#: jsii, the CDK's bridge from Python to Node.js, prints a 12-line banner (as
#: Python bytes reprs) when it starts under a Node.js past its support window
#: (18 and 20 today) or newer than it has tested; the CDK works on them. Set
#: before ``aws_cdk`` is first imported; a value already set wins.
#: docs/getting-started.md, "Prerequisites", says which Node.js the CDK supports.
JSII_QUIET = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "18,20",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
}
for _name, _value in JSII_QUIET.items():
    os.environ.setdefault(_name, _value)

__all__ = ["JSII_QUIET"]
