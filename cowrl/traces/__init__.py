"""Write traces: the page indices a process writes after fork, in order."""

from cowrl.traces.io import Trace, load_trace, save_trace

__all__ = ["Trace", "load_trace", "save_trace"]
