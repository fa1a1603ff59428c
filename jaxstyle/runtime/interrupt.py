"""Ctrl-C and SIGTERM that cannot be lost: stop at the next safe point.

Python turns SIGINT into a KeyboardInterrupt raised wherever the main thread happens to
be. When that is inside a garbage-collection callback (JAX registers one), the exception
is reported as "unraisable" and dropped: the Ctrl-C, or the one SIGINT a sweep runner
forwards to its cell, is lost and the run carries on to the end. Long loops therefore
install a ``StopRequest``: its handler only records the signal, and the loop calls
``check()`` where stopping is safe (between training steps, between L-BFGS iterations),
which raises the KeyboardInterrupt there. A second signal raises at once, as Python
would, for a loop that is stuck.

    with StopRequest() as stop:
      for step in ...:
        stop.check()
        ...
"""

from __future__ import annotations

import signal
import threading


class StopRequest:
  """Records SIGINT (and the other ``signals``) while active; ``check()`` acts on it."""

  def __init__(self, signals: tuple[int, ...] = (signal.SIGINT,)):
    self.signals = tuple(signals)
    self.signum: int | None = None
    self._previous: dict[int, object] = {}

  def _handle(self, signum, frame):
    if self.signum is not None:  # the second request: stop now, wherever we are
      raise KeyboardInterrupt(f'{signal.Signals(signum).name} received twice')
    self.signum = signum

  @property
  def requested(self) -> bool:
    """Whether a stop was requested since entering (without raising)."""
    return self.signum is not None

  def check(self) -> None:
    """Raises KeyboardInterrupt if a stop was requested since entering."""
    if self.signum is not None:
      raise KeyboardInterrupt(f'{signal.Signals(self.signum).name} received')

  def __enter__(self) -> 'StopRequest':
    # Handlers can only be installed from the main thread; elsewhere (a run started from a
    # worker thread) the process's own handling stays in place and check() never raises.
    if threading.current_thread() is threading.main_thread():
      for s in self.signals:
        if signal.getsignal(s) is not signal.SIG_IGN:  # ignored (e.g. `cmd &`): leave it so
          self._previous[s] = signal.signal(s, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for s, previous in self._previous.items():
      # None: the previous handler was not installed from Python; restore the default.
      signal.signal(s, signal.SIG_DFL if previous is None else previous)
    self._previous.clear()
