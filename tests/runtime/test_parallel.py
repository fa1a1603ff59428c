"""The state forms of ``jaxstyle.runtime.parallel`` on 8 simulated devices: pmap's
host-local replicated outputs, restored single-device arrays and host arrays all become
the one global replicated array (values unchanged), which is what Orbax saves."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.runtime import parallel


def test_mesh_spans_every_device_on_the_batch_axis():
  mesh = parallel.make_mesh()
  assert mesh.axis_names == (parallel.AXIS,) and mesh.devices.size == jax.device_count() == 8
  assert sorted(d.id for d in mesh.devices.flat) == sorted(d.id for d in jax.devices())


def test_pmap_outputs_restored_and_host_arrays_become_one_global_replicated_state():
  def step(state, batch):
    return jax.tree.map(lambda x: x + jax.lax.pmean(batch.sum(), parallel.AXIS), state), {}

  dp = parallel.DataParallel(step, 'pmap', donate=False)
  host = {'w': np.arange(6, dtype=np.float32).reshape(2, 3), 'step': np.int32(4)}
  placed = dp.put_state(host)
  assert all(x.sharding.is_equivalent_to(dp.replicated, x.ndim) for x in jax.tree.leaves(placed))
  batch = np.ones((1, 8, 2), np.float32)  # every device's rows sum to 2
  out, _ = dp(placed, batch)
  # pmap hands back one copy per device on its own (host-local) sharding.
  glob = dp.to_global(out)
  for key, want in (('w', host['w'] + 2), ('step', host['step'] + 2)):
    x = glob[key]
    assert x.sharding.is_equivalent_to(dp.replicated, x.ndim)
    assert len(x.addressable_shards) == 8
    for shard in x.addressable_shards:
      np.testing.assert_array_equal(np.asarray(shard.data), want)
  # A checkpoint restored onto one device (what Orbax returns for a host template) is
  # placed on every device with the same values; a second put is a no-op.
  one_device = jax.device_put(jnp.asarray(host['w']), jax.devices()[3])
  again = dp.put_state({'w': one_device})['w']
  assert again.sharding.is_equivalent_to(dp.replicated, 2)
  np.testing.assert_array_equal(np.asarray(again.addressable_data(7)), host['w'])
  assert dp.put_state({'w': again})['w'] is again
  # Both modes consume the converted state and agree.
  sm = parallel.DataParallel(step, 'shard_map', donate=False)
  a, _ = dp(dp.put_state(glob), batch)
  b, _ = sm(sm.put_state(glob), batch)
  np.testing.assert_array_equal(np.asarray(parallel.host_local(a)['w']),
                                np.asarray(parallel.host_local(b)['w']))


def test_any_process_is_the_flag_itself_with_one_process():
  assert parallel.any_process(True) is True and parallel.any_process(False) is False
