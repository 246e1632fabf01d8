"""The ``amistate`` command line: ``demo``, ``status``, ``sync``, ``replay``, ``init``.

See docs/cli.md. The entry point is :func:`amistate.cli.main.main`.
"""
