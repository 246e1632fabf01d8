"""Moved to :mod:`amistate.testing.moto_server` (the public test kit); kept for old imports."""

from amistate.testing.moto_server import MotoServer, serialise_dynamodb

__all__ = ["MotoServer", "serialise_dynamodb"]
