"""Sweep workers on accelerator hosts: each worker's devices, by the environment its cells
receive (GPU slices, shared GPUs without pre-allocation, TPU chip splits, CPU unchanged),
the one-line refusals, detection without JAX, and sweeps of stub cells that record the
environment they got (the spawned workers' path is the same for GPUs and TPUs)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jaxstyle.errors import ConfigError
from jaxstyle.sweeps import devices as devicelib

REPO = Path(__file__).resolve().parents[2]
GPU_VARS = ('CUDA_VISIBLE_DEVICES', 'XLA_PYTHON_CLIENT_PREALLOCATE')
TPU_VARS = ('TPU_VISIBLE_CHIPS', 'TPU_CHIPS_PER_PROCESS_BOUNDS', 'TPU_PROCESS_BOUNDS',
            'TPU_PROCESS_PORT', 'TPU_PROCESS_ADDRESSES')
BASE = {'PATH': '/usr/bin', 'JAX_NUM_CPU_DEVICES': '8'}


def _envs(num_workers, accelerator, devices, k=0, share=False, base=BASE):
  return [devicelib.worker_env(i, num_workers, accelerator, devices, k, share, base_env=base)
          for i in range(num_workers)]


def _added(env, base=BASE):
  """What the runner set on top of ``base`` (it never removes a variable here)."""
  assert all(env[key] == value for key, value in base.items())
  return {key: value for key, value in env.items() if key not in base}


# -- GPU ---------------------------------------------------------------------------

@pytest.mark.parametrize('num_gpus,workers,k,expected', [
    (4, 2, 0, ['0,1', '2,3']),
    (4, 4, 0, ['0', '1', '2', '3']),
    (8, 2, 0, ['0,1,2,3', '4,5,6,7']),
    (4, 3, 0, ['0', '1', '2']),         # the largest even share: one each, GPU 3 idle
    (8, 3, 0, ['0,1', '2,3', '4,5']),
    (4, 2, 1, ['0', '1']),              # asked for one each
])
def test_gpu_workers_get_disjoint_slices_and_keep_preallocation(num_gpus, workers, k,
                                                                expected):
  devices = [str(i) for i in range(num_gpus)]
  added = [_added(env) for env in _envs(workers, 'gpu', devices, k)]
  assert added == [{'CUDA_VISIBLE_DEVICES': e} for e in expected]
  used = [d for a in added for d in a['CUDA_VISIBLE_DEVICES'].split(',')]
  assert len(used) == len(set(used))  # disjoint: every JAX process pre-allocates its own


def test_gpu_slices_keep_the_ids_of_the_given_pool():
  # CUDA_VISIBLE_DEVICES may name GPUs by index or UUID: slices are taken from it as given.
  pool = ['GPU-aaaa', 'GPU-bbbb', '5', '7']
  assert [e['CUDA_VISIBLE_DEVICES'] for e in _envs(2, 'gpu', pool)] == \
      ['GPU-aaaa,GPU-bbbb', '5,7']


def test_workers_sharing_gpus_turn_preallocation_off():
  envs = _envs(4, 'gpu', ['0', '1'], share=True)
  assert [_added(e) for e in envs] == [
      {'CUDA_VISIBLE_DEVICES': gpu, 'XLA_PYTHON_CLIENT_PREALLOCATE': 'false'}
      for gpu in ('0', '1', '0', '1')]
  # One GPU, two workers: both see it, neither takes 75% of it.
  assert [_added(e) for e in _envs(2, 'gpu', ['3'], share=True)] == 2 * [
      {'CUDA_VISIBLE_DEVICES': '3', 'XLA_PYTHON_CLIENT_PREALLOCATE': 'false'}]
  # A user who sized the memory per process keeps that setting.
  for key in devicelib.GPU_MEMORY_VARS:
    sized = {**BASE, key: '.45'}
    assert [_added(e, sized) for e in _envs(2, 'gpu', ['0'], share=True, base=sized)] == \
        2 * [{'CUDA_VISIBLE_DEVICES': '0'}]
  # The runner's log line says which, and which worker got what.
  host = devicelib.HostDevices('gpu', ('0', '1'), 'CUDA_VISIBLE_DEVICES')
  slices = devicelib.split(3, 'gpu', host.devices, share=True)
  assert devicelib.describe(host, slices, {}) == (
      'GPU 0,1 (from CUDA_VISIBLE_DEVICES) per worker: w0: 0, w1: 1, w2: 0; workers share '
      'GPUs: XLA_PYTHON_CLIENT_PREALLOCATE=false (each allocates what it uses)')
  assert devicelib.describe(host, slices, {'XLA_CLIENT_MEM_FRACTION': '.3'}).endswith(
      'keeping your XLA_CLIENT_MEM_FRACTION=.3')
  # --share-devices with enough GPUs shares nothing and keeps pre-allocation.
  assert [_added(e) for e in _envs(2, 'gpu', ['0', '1'], share=True)] == \
      [{'CUDA_VISIBLE_DEVICES': '0'}, {'CUDA_VISIBLE_DEVICES': '1'}]


# -- TPU ---------------------------------------------------------------------------

def _tpu(chips, bounds, port):
  return {'TPU_VISIBLE_CHIPS': chips, 'TPU_CHIPS_PER_PROCESS_BOUNDS': bounds,
          'TPU_PROCESS_BOUNDS': '1,1,1', 'TPU_PROCESS_PORT': str(port),
          'TPU_PROCESS_ADDRESSES': f'localhost:{port}'}


@pytest.mark.parametrize('num_chips,workers,k,expected', [
    # v4-8 / v5p-8 host, 4 chips: four 1-chip or two 2-chip single-process slices.
    (4, 4, 0, [('0', '1,1,1'), ('1', '1,1,1'), ('2', '1,1,1'), ('3', '1,1,1')]),
    (4, 2, 0, [('0,1', '1,2,1'), ('2,3', '1,2,1')]),
    (4, 2, 1, [('0', '1,1,1'), ('1', '1,1,1')]),
    # v5e-8 / v6e-8 host, 8 chips: two 2x2 blocks, or four pairs.
    (8, 2, 0, [('0,1,2,3', '2,2,1'), ('4,5,6,7', '2,2,1')]),
    (8, 4, 0, [('0,1', '1,2,1'), ('2,3', '1,2,1'), ('4,5', '1,2,1'), ('6,7', '1,2,1')]),
])
def test_tpu_workers_each_hold_their_chips_as_a_slice_of_one_process(num_chips, workers, k,
                                                                    expected):
  envs = _envs(workers, 'tpu', [str(i) for i in range(num_chips)], k)
  assert [_added(e) for e in envs] == [_tpu(chips, bounds, devicelib.TPU_BASE_PORT + i)
                                       for i, (chips, bounds) in enumerate(expected)]


def test_one_worker_and_cpu_hosts_keep_the_environment():
  base = {**BASE, 'CUDA_VISIBLE_DEVICES': '0,1', 'TPU_VISIBLE_CHIPS': '2,3'}
  assert _envs(1, 'gpu', ['0', '1'], base=base) == [base]
  assert _envs(1, 'tpu', ['2', '3'], base=base) == [base]   # a spawned worker's own slice
  assert _envs(1, 'tpu', ['0', '1', '2', '3'], base=base) == [base]
  assert _envs(3, 'cpu', [], base=BASE) == 3 * [BASE]       # JAX_NUM_CPU_DEVICES untouched
  assert devicelib.split(3, 'cpu', []) == [(), (), ()]


@pytest.mark.parametrize('workers,accelerator,devices,k,share,match', [
    (3, 'gpu', '01', 0, False, r'--workers 3 x 1 GPU needs 3 GPUs, this host has 2: use '
                               r'--workers 2, or add --share-devices'),
    (2, 'gpu', '0123', 3, False, r'--devices-per-worker 3 does not split the 4 GPUs .* use '
                                 r'one of 1, 2, 4'),
    (1, 'gpu', '01', 4, False, r'--devices-per-worker 4, but this host has 2 GPUs: use at '
                               r'most 2'),
    (3, 'gpu', '0123', 2, False, r'--workers 3 x 2 GPUs needs 6 GPUs'),
    (5, 'tpu', '0123', 0, False, r'--workers 5 x 1 TPU chip needs 5 chips; this TPU host has '
                                 r'4: use --workers 4, or --workers 1 \(one worker holding all'),
    (2, 'tpu', '01234567', 3, False, r'--devices-per-worker 3 does not split the 8 TPU chips '
                                     r'.* use one of 1, 2, 4, 8, or --workers 1'),
    (2, 'tpu', '0', 0, False, r'--workers 2 x 1 TPU chip needs 2 chips.*--workers 1'),
    (2, 'tpu', '0123', 0, True, r'--share-devices: TPU chips cannot be shared'),
    (2, 'cpu', '', 1, False, r'--devices-per-worker applies to GPUs and TPUs.*--cores-per-'),
    (2, 'gpu', '01', -1, False, r'--devices-per-worker must be >= 0'),
])
def test_requests_a_host_cannot_meet_are_one_line_errors(workers, accelerator, devices, k,
                                                         share, match):
  with pytest.raises(ConfigError, match=match) as error:
    devicelib.worker_env(0, workers, accelerator, list(devices), k, share, base_env={})
  assert '\n' not in str(error.value)


# -- detection without JAX ---------------------------------------------------------

def test_detection_reads_the_host_not_jax(tmp_path):
  empty = tmp_path / 'empty'
  empty.mkdir()
  assert devicelib.detect('auto', {}, empty, nvidia_smi='') == devicelib.HostDevices('cpu')

  gpus = tmp_path / 'gpus'
  for bus in ('0000:01:00.0', '0000:41:00.0'):
    (gpus / 'proc/driver/nvidia/gpus' / bus).mkdir(parents=True)
  assert devicelib.detect('auto', {}, gpus, nvidia_smi='') == \
      devicelib.HostDevices('gpu', ('0', '1'), '/proc/driver/nvidia/gpus')
  # An existing CUDA_VISIBLE_DEVICES is the pool; '-1' ends it as CUDA does.
  assert devicelib.detect('auto', {'CUDA_VISIBLE_DEVICES': '1,0,-1,3'}, gpus, '').devices == \
      ('1', '0')
  assert devicelib.detect('auto', {'JAX_PLATFORMS': 'cpu'}, gpus, '').accelerator == 'cpu'

  smi = tmp_path / 'nvidia-smi'
  smi.write_text('#!/bin/sh\necho "GPU 0: NVIDIA H100 (UUID: GPU-a)"\n'
                 'echo "  MIG 3g.40gb Device 0: (UUID: MIG-b)"\necho "GPU 1: NVIDIA H100"\n'
                 'echo "GPU 2: NVIDIA H100"\n')
  smi.chmod(0o755)
  assert devicelib.detect('auto', {}, empty, str(smi)) == \
      devicelib.HostDevices('gpu', ('0', '1', '2'), 'nvidia-smi -L')

  v4 = tmp_path / 'v4'
  (v4 / 'dev').mkdir(parents=True)
  for i in range(4):
    (v4 / 'dev' / f'accel{i}').touch()
  assert devicelib.detect('auto', {}, v4, '') == \
      devicelib.HostDevices('tpu', ('0', '1', '2', '3'), '/dev/accel*')
  v5e = tmp_path / 'v5e'
  (v5e / 'dev/vfio').mkdir(parents=True)
  for name in [*map(str, range(8)), 'vfio']:   # /dev/vfio/vfio is the container, no chip
    (v5e / 'dev/vfio' / name).touch()
  assert devicelib.detect('auto', {}, v5e, '').accelerator == 'cpu'  # VFIO, but not Google's
  for i, vendor in enumerate(['0x8086', *8 * ['0x1ae0']]):
    (v5e / f'sys/bus/pci/devices/0000:00:0{i}.0').mkdir(parents=True)
    (v5e / f'sys/bus/pci/devices/0000:00:0{i}.0/vendor').write_text(vendor + '\n')
  assert devicelib.detect('auto', {}, v5e, '') == \
      devicelib.HostDevices('tpu', tuple(map(str, range(8))), '/dev/vfio/*')
  assert devicelib.detect('tpu', {'TPU_VISIBLE_CHIPS': '4,5'}, v5e, '').devices == ('4', '5')

  # Forced, from the environment alone (a test, or a scheduler that hands out devices).
  assert devicelib.detect('gpu', {'CUDA_VISIBLE_DEVICES': '0,1,2,3'}, empty, '') == \
      devicelib.HostDevices('gpu', ('0', '1', '2', '3'), 'CUDA_VISIBLE_DEVICES')
  with pytest.raises(ConfigError, match=r'--accelerator gpu: no GPUs found .* set '
                                        r'CUDA_VISIBLE_DEVICES .* or use --accelerator cpu'):
    devicelib.detect('gpu', {}, empty, '')
  with pytest.raises(ConfigError, match=r"no TPU chips found \(TPU_VISIBLE_CHIPS=''\)"):
    devicelib.detect('tpu', {'TPU_VISIBLE_CHIPS': ''}, empty, '')


# -- a sweep of 2 workers, cells recording their environment ------------------------

CONFIG = '''
import ml_collections

def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.task = 'gatys'
  c.seed = 0
  return c
'''

SWEEP = '''
from jaxstyle.sweeps.spec import Sweep

def get_sweep(arg=None):
  return Sweep(name='env', config={config!r}, entry='tests.sweeps.env_cell_stub',
               seeds=(0, 1, 2, 3))
'''


def _sweep(tmp_path, workers, *options, **env):
  (tmp_path / 'config.py').write_text(CONFIG)
  (tmp_path / 'sweep.py').write_text(SWEEP.format(config=str(tmp_path / 'config.py')))
  base = {k: v for k, v in os.environ.items()
          if k not in (*GPU_VARS, *TPU_VARS, *devicelib.GPU_MEMORY_VARS)}
  return subprocess.run(
      [sys.executable, '-m', 'jaxstyle', 'sweep', 'run', str(tmp_path / 'sweep.py'),
       '--dir', str(tmp_path / 'sweep'), '--workers', str(workers), *options],
      cwd=REPO, capture_output=True, text=True, timeout=300,
      env={**base, 'PYTHONPATH': str(REPO), 'ENV_STUB_BARRIER': str(workers),
           'JAX_NUM_CPU_DEVICES': '3', **env})


def _cells(root):
  """{cell: (worker, accelerator and devices recorded in its claim, environment it got)}."""
  out = {}
  for claim in (root / 'claims').glob('*.json'):
    state = json.loads(claim.read_text())
    env = json.loads((root / 'runs' / claim.stem / 'env.json').read_text())
    out[claim.stem] = (state['worker'], state['accelerator'], state['devices'], env)
  return out


@pytest.mark.parametrize('workers,options,env,per_worker', [
    # 4 GPUs, 2 workers: two GPUs each, pre-allocation as usual.
    (2, ['--accelerator', 'gpu'], {'CUDA_VISIBLE_DEVICES': '0,1,2,3'},
     {'w0': {'CUDA_VISIBLE_DEVICES': '0,1'}, 'w1': {'CUDA_VISIBLE_DEVICES': '2,3'}}),
    # 1 GPU, 2 workers sharing it: no pre-allocation.
    (2, ['--accelerator', 'gpu', '--share-devices'], {'CUDA_VISIBLE_DEVICES': '0'},
     {w: {'CUDA_VISIBLE_DEVICES': '0', 'XLA_PYTHON_CLIENT_PREALLOCATE': 'false'}
      for w in ('w0', 'w1')}),
    # One worker (no worker processes) asked for one of its two GPUs.
    (1, ['--accelerator', 'gpu', '--devices-per-worker', '1'], {'CUDA_VISIBLE_DEVICES': '2,3'},
     {'host0': {'CUDA_VISIBLE_DEVICES': '2'}}),
])
def test_each_worker_runs_its_cells_on_its_own_devices(tmp_path, workers, options, env,
                                                       per_worker):
  out = _sweep(tmp_path, workers, *options, **env)
  assert out.returncode == 0, out.stdout + out.stderr
  cells = _cells(tmp_path / 'sweep')
  assert len(cells) == 4
  assert {worker for worker, _, _, _ in cells.values()} == set(per_worker)  # all ran cells
  recorded = ('CUDA_VISIBLE_DEVICES', 'XLA_PYTHON_CLIENT_PREALLOCATE', *TPU_VARS,
              'JAX_NUM_CPU_DEVICES')
  for name, (worker, accelerator, devices, got) in cells.items():
    expected = {**{key: None for key in recorded}, 'JAX_NUM_CPU_DEVICES': '3',
                **per_worker[worker]}
    assert {key: got[key] for key in recorded} == expected, (name, worker)
    mine = per_worker[worker]['CUDA_VISIBLE_DEVICES'].split(',')
    assert (accelerator, devices) == ('gpu', mine), name  # recorded in its claim
  assert ' w0: ' in out.stdout, out.stdout  # the runner says what each worker got
  if '--share-devices' in options:
    assert 'XLA_PYTHON_CLIENT_PREALLOCATE=false' in out.stdout


def test_more_workers_than_gpus_is_refused_before_anything_is_written(tmp_path, monkeypatch,
                                                                      capsys):
  from jaxstyle import cli
  (tmp_path / 'config.py').write_text(CONFIG)
  (tmp_path / 'sweep.py').write_text(SWEEP.format(config=str(tmp_path / 'config.py')))
  monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '0')
  for key in devicelib.GPU_MEMORY_VARS:
    monkeypatch.delenv(key, raising=False)
  args = ['sweep', 'run', str(tmp_path / 'sweep.py'), '--dir', str(tmp_path / 'sweep'),
          '--workers', '2', '--accelerator', 'gpu']
  assert cli.main(args) == 2
  assert capsys.readouterr().err.splitlines() == [
      'error: --workers 2 x 1 GPU needs 2 GPUs, this host has 1: use --workers 1, or add '
      '--share-devices to run several workers per GPU (XLA_PYTHON_CLIENT_PREALLOCATE=false)']
  assert not (tmp_path / 'sweep').exists()
