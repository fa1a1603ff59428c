"""One process of the 2-process test (tests/gan/test_multiprocess.py); not a test itself.

usage: python tests/multiprocess_worker.py PORT PROCESS_ID MODE OUT.npz
Each process has 2 CPU devices and feeds its own half of the global batch.
"""

import os
import sys

os.environ['JAX_NUM_CPU_DEVICES'] = '2'
os.environ['JAX_PLATFORMS'] = 'cpu'

import jax  # noqa: E402
import numpy as np  # noqa: E402

from jaxstyle.runtime import parallel  # noqa: E402


def main():
  port, pid, mode, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
  parallel.initialize_distributed(f'127.0.0.1:{port}', 2, pid)
  assert jax.process_count() == 2 and jax.device_count() == 4, (jax.process_count(),
                                                                 jax.device_count())
  from tests.gan.test_parallel import trainer  # the same networks and settings as the test
  tr = trainer('pacgan_mlp', (2,))
  global_batch = np.random.default_rng(0).normal(size=(1, 16, 2)).astype(np.float32)
  local = global_batch[:, pid * 8:(pid + 1) * 8]
  dp = parallel.DataParallel(tr.step, mode)
  state = dp.put_state(tr.init(0, (2,)))
  losses = []
  for _ in range(2):
    state, metrics = dp(state, local)
    losses.append(float(parallel.host_local(metrics)['d_loss']))
  leaves = [np.asarray(x) for x in jax.tree.leaves(parallel.host_local(state.g_params))]
  np.savez(out, losses=np.array(losses), *leaves)
  jax.distributed.shutdown()


if __name__ == '__main__':
  main()
