"""ordinance's engine: load, layer, compile and evaluate policy; the public API is
``load_policy`` and ``Policy.evaluate`` (see ``engine.api``)."""

from engine.api import Policy, load_policy
from engine.result import Decision, Result

__all__ = ["Decision", "Policy", "Result", "load_policy"]
