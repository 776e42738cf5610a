"""The exception and warning types of the public contract."""

from __future__ import annotations


class ShapeError(ValueError):
    """A shape that cannot work: raised when a node is built, or when an array is fed in."""


class NonFiniteError(FloatingPointError):
    """A value became NaN or inf in a function compiled with ``check_finite``; ``.value`` is
    the offending array."""


class ShapeWarning(UserWarning):
    """A broadcast that is legal but almost surely a bug (see ``graphc.passes.lint``)."""
