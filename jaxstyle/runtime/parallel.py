"""Runs a per-device step function over all devices: ``jax.pmap`` or ``jit(shard_map)``.

The step is written once, for one device: ``step(state, batch) -> (state, metrics)``
with collectives over the axis ``AXIS`` ('batch'). State is replicated, the batch is
split over devices along its axis 1 (axis 0 holds the discriminator sub-steps, see
``jaxstyle.gan.train``), and the returned state and metrics are replicated. The old
state's buffers are donated.

  mode='pmap'       jax.pmap(step, axis_name, in_axes=(None, 1), out_axes=None), the
                    default; in JAX >= 0.10 pmap itself lowers to jit(shard_map).
  mode='shard_map'  jax.jit(jax.shard_map(step, mesh, in_specs=(P(), P(None, AXIS)),
                    out_specs=P())), JAX's recommended successor; batches are global
                    jax.Arrays assembled from each process's rows.

Why pmap is the default: the user asked for pmap-parallel steps, and in JAX >= 0.10 it is
the same program as the shard_map mode (tests/gan/test_parallel.py checks the two agree
bit for bit), so the choice costs nothing. shard_map is JAX's recommended successor and
the form to grow from (model or sequence sharding would add mesh axes to it).

Multi-host: every process runs the same program on its own rows of the global batch;
``initialize_distributed`` joins the processes first. Under pmap the state comes back as
a host-local replicated array (one copy on each of this process's devices), which Orbax
cannot save in a multi-process run; ``to_global`` turns it into the global replicated
array both modes checkpoint, and ``put_state`` accepts either form. ``any_process`` is
the collective the training loop uses to agree on stopping (SIGTERM on any host).
"""

from __future__ import annotations

import os
from typing import Callable

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxstyle.errors import ConfigError

AXIS = 'batch'
MODES = ('pmap', 'shard_map')


def initialize_distributed(coordinator: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None) -> None:
  """Joins a multi-process run; a no-op for one process.

  Explicit arguments (or JAXSTYLE_COORDINATOR / JAXSTYLE_NUM_PROCESSES /
  JAXSTYLE_PROCESS_ID) start a local cluster; on a Cloud TPU pod slice, Slurm or
  Kubernetes set JAXSTYLE_DISTRIBUTED=auto and JAX detects the cluster itself.
  """
  coordinator = coordinator or os.environ.get('JAXSTYLE_COORDINATOR')
  if coordinator:
    num = int(num_processes if num_processes is not None else os.environ['JAXSTYLE_NUM_PROCESSES'])
    pid = int(process_id if process_id is not None else os.environ['JAXSTYLE_PROCESS_ID'])
    jax.distributed.initialize(coordinator, num, pid, cluster_detection_method='deactivate')
  elif os.environ.get('JAXSTYLE_DISTRIBUTED') == 'auto':
    jax.distributed.initialize()


def check_batch(global_batch: int, pack: int = 1) -> None:
  """Raises ConfigError unless the global batch splits evenly over all devices."""
  n = jax.device_count()
  if global_batch <= 0 or global_batch % n:
    raise ConfigError(f'the global batch ({global_batch}) must be a positive multiple of the '
                      f'device count ({n}); set train.batch_size to a multiple of {n}')
  if (global_batch // n) % pack:
    raise ConfigError(f'the per-device batch ({global_batch // n}) must be a multiple of '
                      f'model.pack ({pack}); change train.batch_size or model.pack')


def make_mesh() -> jax.sharding.Mesh:
  """The 1-D data-parallel mesh over every device of every process, axis ``AXIS``.

  ``jax.make_mesh`` may order the devices for the interconnect (a ring on a TPU slice);
  ``make_array_from_process_local_data`` then still places each process's rows on its own
  devices. The axis type is Auto: the step is written per device (shard_map), not with
  explicit-sharding types.
  """
  return jax.make_mesh((jax.device_count(),), (AXIS,), axis_types=(AxisType.Auto,))


def _replicated() -> NamedSharding:
  return NamedSharding(make_mesh(), P())


def to_global(tree, sharding: NamedSharding | None = None):
  """Replicated state in either form -> global replicated ``jax.Array``s (what Orbax saves
  in a multi-process run). A pmap output holds one full copy on each local device: those
  buffers become the shards of the global array, without a copy or a cross-host transfer."""
  sharding = sharding or _replicated()

  def convert(x):
    if not isinstance(x, jax.Array) or x.sharding.is_equivalent_to(sharding, x.ndim):
      return x
    by_device = {s.device: s.data for s in x.addressable_shards}
    shards = [by_device[d] if d in by_device else jax.device_put(x.addressable_data(0), d)
              for d in sharding.addressable_devices_indices_map(x.shape)]
    return jax.make_array_from_single_device_arrays(x.shape, sharding, shards)
  return jax.tree.map(convert, tree)


def any_process(flag: bool) -> bool:
  """True on every process if ``flag`` is True on any (a collective: every process must
  call it at the same point of the program); just ``flag`` with one process."""
  if jax.process_count() == 1:
    return bool(flag)
  return bool(np.any(multihost_utils.process_allgather(np.int32(bool(flag)))))


def barrier(name: str) -> None:
  """Waits until every process reaches ``name``; a no-op with one process. Process 0's
  work after training (the final evaluation, the model file) may outlast JAX's shutdown
  barrier (300 s), so the other processes wait here instead of timing out in it."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


class DataParallel:
  """``DataParallel(step, mode)(state, local_batch, *consts) -> (state, metrics)``.

  ``consts`` (``num_consts`` of them) are replicated inputs that are not part of the
  state: frozen networks and precomputed targets, placed once with ``put_state``.
  Passing them as arguments rather than closing over them keeps large weights out of
  the compiled program.
  """

  def __init__(self, step: Callable, mode: str = 'pmap', donate: bool = True,
               num_consts: int = 0):
    if mode not in MODES:
      raise ConfigError(f'parallel.mode must be one of {MODES}, got {mode!r}')
    self.mode = mode
    self.local_devices = jax.local_device_count()
    donate_argnums = (0,) if donate else ()
    self.mesh = make_mesh()
    self.replicated = NamedSharding(self.mesh, P())
    if mode == 'pmap':
      self._fn = jax.pmap(step, axis_name=AXIS, in_axes=(None, 1) + (None,) * num_consts,
                          out_axes=(None, None),
                          donate_argnums=donate_argnums)
    else:
      self.batch_sharding = NamedSharding(self.mesh, P(None, AXIS))
      # check_vma=False gives pmap's autodiff semantics: the gradient of a replicated
      # parameter is this device's own gradient, which the step then pmeans. (With
      # check_vma=True JAX would psum it automatically, and the pmean would not be a mean.)
      in_specs = (P(), P(None, AXIS)) + (P(),) * num_consts
      self._fn = jax.jit(jax.shard_map(step, mesh=self.mesh, in_specs=in_specs,
                                       out_specs=(P(), P()), check_vma=False),
                         donate_argnums=donate_argnums)

  def put_state(self, state):
    """Places a replicated state where the step expects it: on every device of every
    process (pmap's in_axes=None and shard_map's P() both mean that), so the first step
    neither reshards nor breaks buffer donation. Accepts host arrays, arrays on one local
    device (a restored checkpoint) and pmap's host-local replicated outputs; every process
    holds the same values, so each places its own copy and nothing crosses hosts."""
    def put(x):
      if isinstance(x, jax.Array):
        if x.sharding.is_equivalent_to(self.replicated, x.ndim):
          return x
        if x.is_fully_replicated:
          return to_global(x, self.replicated)
        x = np.asarray(x)  # sharded over this process's devices only: gather here
      return jax.device_put(x, self.replicated)
    return jax.tree.map(put, state)

  def to_global(self, state):
    """The state as global replicated arrays (for checkpoints); see ``to_global``."""
    return to_global(state, self.replicated)

  def put_batch(self, local_batch):
    """This process's rows (sub_steps, local_batch, ...) -> the step's input; a tuple
    (examples, labels) is split the same way, leaf by leaf."""
    if isinstance(local_batch, tuple):
      return tuple(self.put_batch(part) for part in local_batch)
    if self.mode == 'pmap':
      k, b = local_batch.shape[:2]
      return local_batch.reshape(k, self.local_devices, b // self.local_devices,
                                 *local_batch.shape[2:])
    global_shape = (local_batch.shape[0], local_batch.shape[1] * jax.process_count(),
                    *local_batch.shape[2:])
    return jax.make_array_from_process_local_data(self.batch_sharding, local_batch, global_shape)

  def __call__(self, state, local_batch, *consts):
    return self._fn(state, self.put_batch(local_batch), *consts)


def host_local(tree):
  """Replicated arrays -> numpy on this host, without a cross-host gather."""
  def get(x):
    if isinstance(x, jax.Array):
      return np.asarray(x.addressable_data(0))
    return x
  return jax.tree.map(get, tree)
