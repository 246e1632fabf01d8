"""Values given explicitly that win over the environment's, for :func:`amistate.core.settings.load`.

Their own module: only the CLI and :class:`amistate.read.Reader` give them, so the
event Lambda's cold start never builds the class.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import field, frozen


@frozen
class Overrides:
    """Values given explicitly that win over their variables (None: the variable's).

    The CLI's ``--table``, ``--region`` and ``--prefix``; the arguments of
    :class:`amistate.read.Reader`. Each is read and checked exactly as its
    variable is (``region`` stands for ``AWS_REGION``); an error names it as
    ``names`` says (``{"table": "--table"}``), else by its variable.
    """

    table: str | None = None
    region: str | None = None
    parameter_prefix: str | None = None
    names: Mapping[str, str] = field(factory=dict, hash=False)


__all__ = ["Overrides"]
