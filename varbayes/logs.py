"""The ``varbayes`` logger: every message the library prints goes through it.

As PyMC does with its ``pymc`` logger, the messages of fits and samplers
("Initializing NUTS using ...", "Finished [100%]: Average Loss = ...") are
``INFO`` records of the ``varbayes`` logger, which writes them to stderr. A
user or a test suite silences or captures them the standard way, e.g.
``logging.getLogger("varbayes").setLevel(logging.WARNING)``.

Examples
--------
>>> import logging
>>> from varbayes.logs import log
>>> log.name
'varbayes'
"""

from __future__ import annotations

import logging
import sys

__all__ = ["log"]

log = logging.getLogger("varbayes")
if not log.handlers:
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False
