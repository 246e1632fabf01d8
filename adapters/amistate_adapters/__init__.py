"""Implementations of :mod:`amistate.ports`: AWS (boto3) and in-memory."""
