"""``Minibatch``: a tensor whose every evaluation is a fresh random batch."""

from __future__ import annotations

from pytensor.graph.basic import Variable

__all__ = ["Minibatch", "is_minibatch"]


def is_minibatch(var) -> bool:
    """Whether ``var`` is a Minibatch (or a graph whose value is one)."""
    return isinstance(var, Variable) and getattr(var.tag, "minibatch", None) is not None


class Minibatch:  # replaced by the full implementation in this module
    def __new__(cls, *args, **kwargs):
        raise NotImplementedError("Minibatch is not available yet")
