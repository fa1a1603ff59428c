"""Two processes x 2 CPU devices, joined by jax.distributed, train like one process."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from tests.gan.test_parallel import run_steps, trainer

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@pytest.mark.parametrize('mode', ['pmap', 'shard_map'])
def test_two_processes_match_one_process(tmp_path, mode):
  port = free_port()
  env = {**os.environ, 'PYTHONPATH': str(ROOT)}
  env.pop('JAX_NUM_CPU_DEVICES', None)
  procs = [subprocess.Popen([sys.executable, str(ROOT / 'tests' / 'multiprocess_worker.py'),
                             str(port), str(i), mode, str(tmp_path / f'p{i}.npz')],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
           for i in range(2)]
  try:
    outs = [p.communicate(timeout=240)[0].decode() for p in procs]
  finally:
    for p in procs:
      p.kill()
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out[-3000:]
  tr = trainer('pacgan_mlp', (2,))
  batch = np.random.default_rng(0).normal(size=(1, 16, 2)).astype(np.float32)
  state, hist = run_steps(tr, (2,), batch, devices=1)
  ref_leaves = jax.tree.leaves(state.g_params)
  for i in range(2):
    got = np.load(tmp_path / f'p{i}.npz')
    np.testing.assert_allclose(got['losses'], [h['d_loss'] for h in hist], rtol=1e-5)
    for j, ref in enumerate(ref_leaves):
      np.testing.assert_allclose(got[f'arr_{j}'], ref, rtol=1e-4, atol=1e-6)
