"""Load generation for ``emporium load``, ``emporium chaos`` and bench/.

Two loops over one shop model (:mod:`~emporium.loadgen.shop`, Online Boutique's
task mix): the closed loop runs simulated shoppers on Locust's local runner;
the open loop (:class:`OpenLoop`) starts requests at a fixed rate and times
each from its intended send time. A :class:`Recorder` keeps every sample per
route and per second; :func:`require_loopback` keeps both on this machine.
"""

from emporium.loadgen._stats import Recorder, percentile
from emporium.loadgen.guard import NotLoopbackError, require_loopback
from emporium.loadgen.openloop import OpenLoop

__all__ = ["NotLoopbackError", "OpenLoop", "Recorder", "percentile", "require_loopback"]
