"""StopRequest: a Ctrl-C is recorded, acted on where the loop checks, and never lost."""

import gc
import os
import signal
import sys

import pytest

from jaxstyle.runtime.interrupt import StopRequest


def test_a_signal_is_recorded_and_raised_at_the_check():
  before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
  with StopRequest((signal.SIGINT, signal.SIGTERM)) as stop:
    stop.check()                        # nothing requested yet
    os.kill(os.getpid(), signal.SIGTERM)
    sum(range(1000))                    # the handler has run by now; it did not raise
    assert stop.signum == signal.SIGTERM
    with pytest.raises(KeyboardInterrupt, match='SIGTERM'):
      stop.check()
    with pytest.raises(KeyboardInterrupt, match='twice'):  # a second one stops at once
      os.kill(os.getpid(), signal.SIGINT)
      sum(range(1000))
  assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_an_ignored_signal_stays_ignored():
  previous = signal.signal(signal.SIGINT, signal.SIG_IGN)   # as for a `cmd &` job
  try:
    with StopRequest() as stop:
      assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
      os.kill(os.getpid(), signal.SIGINT)
      stop.check()
  finally:
    signal.signal(signal.SIGINT, previous)


def _signal_inside_a_gc_callback():
  fired = []

  def callback(phase, info):
    if phase == 'start' and not fired:
      fired.append(True)
      os.kill(os.getpid(), signal.SIGINT)
      sum(range(1000))                  # Python runs the handler here, inside gc

  gc.callbacks.append(callback)
  try:
    gc.collect()
  finally:
    gc.callbacks.remove(callback)
  assert fired


def test_a_signal_during_garbage_collection_is_not_lost(monkeypatch):
  # Without StopRequest, Python's KeyboardInterrupt is raised inside the gc callback,
  # reported as unraisable and dropped: the run would go on (what JAX's gc callback did to
  # a sweep's forwarded Ctrl-C).
  unraisable = []
  monkeypatch.setattr(sys, 'unraisablehook', unraisable.append)
  try:
    _signal_inside_a_gc_callback()
  except KeyboardInterrupt:  # a Python that delivers it after all: nothing lost either
    pass
  else:
    assert [u.exc_type for u in unraisable] == [KeyboardInterrupt]
  # With it, the request is kept until the loop checks.
  with StopRequest() as stop:
    _signal_inside_a_gc_callback()
    with pytest.raises(KeyboardInterrupt):
      stop.check()
