"""Counts the device work host code launches and the device values it waits for.

    with HostCalls() as calls:
      solver.step()
    calls.executions, calls.syncs, calls.arrays_read

``executions``: programs run on a device -- each jitted call and each op-by-op jnp
operation -- counted from the runtime's own trace (``jax.profiler``, the PjRt
executable's ``ExecuteHelperOnSingleDevice`` events), so no call can escape the count
however it is made. ``syncs``: the times the host blocked on device values: each
``jax.device_get`` call, however many arrays it fetches (it starts all their copies before
waiting on the first), and each other read of a device array (``float()``, ``int()``,
``bool()``, ``.item()``, ``.tolist()``). ``arrays_read``: device arrays brought to the host.
Not seen on CPU: ``np.asarray(x)``, which there reads the host buffer in place through the
buffer protocol (on GPUs and TPUs it takes the counted path).

Used by tests/gatys/test_lbfgs.py and bench/bench_lbfgs_overhead.py.
"""

from __future__ import annotations

import glob
import os
import tempfile

import jax
from jax._src import array as _array

_EXECUTE = 'CommonPjRtLoadedExecutable::ExecuteHelperOnSingleDevice'


class HostCalls:
  """Context manager: ``executions``, ``syncs`` and ``arrays_read`` of its body."""

  def __init__(self):
    self.executions = 0
    self.syncs = 0
    self.arrays_read = 0

  def __enter__(self):
    self._value = _array.ArrayImpl.__dict__['_value']
    self._device_get = jax.device_get
    inside = [False]

    def value(x):
      self.arrays_read += 1
      if not inside[0]:
        self.syncs += 1
      return self._value.fget(x)

    def device_get(tree):
      self.syncs += 1
      inside[0] = True
      try:
        return self._device_get(tree)
      finally:
        inside[0] = False

    _array.ArrayImpl._value = property(value)
    jax.device_get = device_get
    self._dir = tempfile.TemporaryDirectory(prefix='host-calls-')
    options = jax.profiler.ProfileOptions()
    options.python_tracer_level = 0  # runtime events only
    jax.profiler.start_trace(self._dir.name, profiler_options=options)
    return self

  def __exit__(self, *exc):
    try:
      jax.profiler.stop_trace()
      for path in glob.glob(os.path.join(self._dir.name, '**', '*.xplane.pb'), recursive=True):
        profile = jax.profiler.ProfileData.from_file(path)
        self.executions += sum(event.name == _EXECUTE for plane in profile.planes
                               for line in plane.lines for event in line.events)
    finally:
      self._dir.cleanup()
      _array.ArrayImpl._value = self._value
      jax.device_get = self._device_get
    return False
