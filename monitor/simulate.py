"""Compatibility module: the simulator lives in the :mod:`monitor.sim` package.

Every public name of the former single-file simulator is re-exported here, so
``from monitor.simulate import simulate, write`` and ``monitor.simulate.plan``
keep working unchanged. New code may import from :mod:`monitor.sim`.

>>> from monitor.simulate import simulate as sim_fn
>>> from monitor.sim import simulate as pkg_fn
>>> sim_fn is pkg_fn
True
"""

from __future__ import annotations

from monitor.sim import *  # noqa: F403 - the re-export is this module's purpose
from monitor.sim import __all__ as __all__
