"""Which accelerator devices each sweep worker gets, decided without initialising JAX.

A JAX process on a GPU pre-allocates 75% of every GPU it can see, and on a TPU VM one
process holds every chip it can see, so ``--workers N`` on an accelerator host must give
each worker its own devices through the environment its cells inherit. The runner itself
never asks JAX (that would take the devices): ``detect`` reads the host instead.

GPU  the pool is ``CUDA_VISIBLE_DEVICES`` if set, else the GPUs ``nvidia-smi -L`` lists
     (or /proc/driver/nvidia/gpus/*). Worker i gets a disjoint slice as its
     ``CUDA_VISIBLE_DEVICES``; with ``share`` more workers than slices take turns on them,
     with ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` so that each allocates what it uses.
TPU  the pool is ``TPU_VISIBLE_CHIPS`` if set, else the chips in /dev/accel* or
     /dev/vfio/* (TPU VMs; VFIO groups only beside Google PCI devices). Worker i gets 1, 2 or 4 chips as its own single-process
     slice (the "non-communicating processes" recipe for one TPU VM: visible chips,
     chip and process bounds, its own port); chips cannot be shared.
CPU  the environment is left alone (``--cores-per-worker`` pins cores instead).

``split`` and ``worker_env`` are pure: the runner's policy, testable on any machine.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

from jaxstyle.errors import ConfigError

ACCELERATORS = ('auto', 'cpu', 'gpu', 'tpu')
# The port of worker i's TPU runtime is TPU_BASE_PORT + i: processes on one VM that each
# hold their own chips must not listen on the same port.
TPU_BASE_PORT = 8476
# TPU_CHIPS_PER_PROCESS_BOUNDS of a worker holding this many chips of one host (x,y,z):
# one chip, a pair, a 2x2 block -- the shapes libtpu accepts for a slice of a 4-chip (v4,
# v5p) or 8-chip (v5e, v6e) host.
TPU_CHIP_BOUNDS = {1: '1,1,1', 2: '1,2,1', 4: '2,2,1'}
# Variables by which a user already manages GPU memory: sharing leaves them to the user
# (XLA_CLIENT_MEM_FRACTION is the newer name of XLA_PYTHON_CLIENT_MEM_FRACTION).
GPU_MEMORY_VARS = ('XLA_PYTHON_CLIENT_PREALLOCATE', 'XLA_CLIENT_MEM_FRACTION',
                   'XLA_PYTHON_CLIENT_MEM_FRACTION', 'XLA_PYTHON_CLIENT_ALLOCATOR')
_UNIT = {'gpu': 'GPU', 'tpu': 'TPU chip'}


@dataclasses.dataclass(frozen=True)
class HostDevices:
  """The accelerator of this host and its pool of devices for the workers.

  ``devices`` are CUDA device ids (indices or UUIDs, as ``CUDA_VISIBLE_DEVICES`` takes
  them) or TPU chip indices; () on CPU. ``source`` says where they were found.
  """
  accelerator: str
  devices: tuple[str, ...] = ()
  source: str = ''


def _ids(value: str) -> tuple[str, ...]:
  ids = []
  for item in value.split(','):
    item = item.strip()
    if not item or item.startswith('-'):  # CUDA stops at the first invalid id ('-1': none)
      break
    ids.append(item)
  return tuple(ids)


def _nvidia_smi_gpus(nvidia_smi: str | None) -> int:
  if not nvidia_smi:
    return 0
  try:
    out = subprocess.run([nvidia_smi, '-L'], capture_output=True, text=True, timeout=20)
  except (OSError, subprocess.SubprocessError):
    return 0
  # MIG instances are listed indented under their GPU: count the GPUs.
  return sum(1 for line in out.stdout.splitlines() if re.match(r'GPU \d+:', line))


def _gpu_pool(environ: Mapping[str, str], root: Path,
              nvidia_smi: str | None) -> tuple[tuple[str, ...], str, bool]:
  """(pool, source, whether GPU hardware was found)."""
  count = _nvidia_smi_gpus(nvidia_smi)
  source = 'nvidia-smi -L'
  if not count:
    count = len(list((root / 'proc/driver/nvidia/gpus').glob('*')))
    source = '/proc/driver/nvidia/gpus'
  if 'CUDA_VISIBLE_DEVICES' in environ:
    return _ids(environ['CUDA_VISIBLE_DEVICES']), 'CUDA_VISIBLE_DEVICES', count > 0
  return tuple(str(i) for i in range(count)), source, count > 0


def _tpu_pool(environ: Mapping[str, str], root: Path) -> tuple[tuple[str, ...], str, bool]:
  """(pool, source, whether TPU chips were found)."""
  accel = [p for p in (root / 'dev').glob('accel*') if p.name[5:].isdigit()]
  vfio = [p for p in (root / 'dev/vfio').glob('*') if p.name.isdigit()]  # v5e and later
  # VFIO groups hold other devices too (a NIC bound for DPDK): count them as TPU chips only
  # on a host with Google PCI devices (vendor 0x1ae0), which is how JAX recognises TPUs.
  if vfio and not any(v.read_text().strip() == '0x1ae0'
                      for v in (root / 'sys/bus/pci/devices').glob('*/vendor')):
    vfio = []
  count, source = (len(accel), '/dev/accel*') if accel else (len(vfio), '/dev/vfio/*')
  if 'TPU_VISIBLE_CHIPS' in environ:
    return _ids(environ['TPU_VISIBLE_CHIPS']), 'TPU_VISIBLE_CHIPS', count > 0
  return tuple(str(i) for i in range(count)), source, count > 0


def detect(accelerator: str = 'auto', environ: Mapping[str, str] | None = None,
           root: str | Path = '/', nvidia_smi: str | None = None) -> HostDevices:
  """This host's accelerator and device pool, read from the environment, ``nvidia-smi``
  and /proc or /dev under ``root`` -- never from JAX, which would take the devices.

  ``accelerator='auto'`` picks GPU if NVIDIA GPUs are present, else TPU if TPU chips are,
  else CPU, within what ``JAX_PLATFORMS`` allows; 'gpu' or 'tpu' forces it (the pool
  then comes from ``CUDA_VISIBLE_DEVICES`` / ``TPU_VISIBLE_CHIPS`` if set). ``nvidia_smi``
  defaults to the one on PATH. Raises ConfigError when a forced accelerator has no devices.
  """
  if accelerator not in ACCELERATORS:
    raise ConfigError(f'--accelerator must be one of {", ".join(ACCELERATORS)}, '
                      f'got {accelerator!r}')
  environ = os.environ if environ is None else environ
  root = Path(root)
  if accelerator == 'cpu':
    return HostDevices('cpu')
  nvidia_smi = nvidia_smi if nvidia_smi is not None else shutil.which('nvidia-smi')
  if accelerator == 'auto':
    platforms = set(environ.get('JAX_PLATFORMS', '').replace(' ', '').split(',')) - {''}
    if not platforms or platforms & {'cuda', 'gpu'}:
      pool, source, present = _gpu_pool(environ, root, nvidia_smi)
      if present and pool:
        return HostDevices('gpu', pool, source)
    if not platforms or 'tpu' in platforms:
      pool, source, present = _tpu_pool(environ, root)
      if present and pool:
        return HostDevices('tpu', pool, source)
    return HostDevices('cpu')
  if accelerator == 'gpu':
    pool, source, _ = _gpu_pool(environ, root, nvidia_smi)
    hint = 'set CUDA_VISIBLE_DEVICES to the GPUs to use'
  else:
    pool, source, _ = _tpu_pool(environ, root)
    hint = 'set TPU_VISIBLE_CHIPS to the chips to use'
  if not pool:
    where = ('CUDA_VISIBLE_DEVICES' if accelerator == 'gpu' else 'TPU_VISIBLE_CHIPS')
    found = (f'{where}={environ[where]!r}' if where in environ else
             'no nvidia-smi GPUs or /proc/driver/nvidia/gpus' if accelerator == 'gpu' else
             'no /dev/accel* or /dev/vfio/* chips')
    raise ConfigError(f'--accelerator {accelerator}: no {_UNIT[accelerator]}s found '
                      f'({found}); {hint}, or use --accelerator cpu')
  return HostDevices(accelerator, pool, source)


def _count(n: int, accelerator: str) -> str:
  return f'{n} {_UNIT[accelerator]}{"s" if n != 1 else ""}'


def split(num_workers: int, accelerator: str, devices: Sequence[str],
          devices_per_worker: int = 0, share: bool = False) -> list[tuple[str, ...]]:
  """The devices of each of ``num_workers`` workers, in worker order ([] entries on CPU).

  ``devices_per_worker`` 0 gives every worker the same, largest share that fits (GPU: a
  divisor of the pool; TPU: 1, 2 or 4 chips, or the whole host for one worker). GPU
  slices are disjoint unless ``share``, which lets more workers than slices take turns on
  them (round robin). Raises ConfigError, naming the fix, for a request that cannot be met.
  """
  if num_workers < 1:
    raise ConfigError(f'--workers must be >= 1, got {num_workers}')
  if devices_per_worker < 0:
    raise ConfigError(f'--devices-per-worker must be >= 0 (0: an even split), '
                      f'got {devices_per_worker}')
  if accelerator == 'cpu':
    if devices_per_worker:
      raise ConfigError('--devices-per-worker applies to GPUs and TPUs; on a CPU host use '
                        '--cores-per-worker K to give each worker its own cores')
    return [() for _ in range(num_workers)]
  if accelerator not in _UNIT:
    raise ConfigError(f'accelerator must be cpu, gpu or tpu here, got {accelerator!r}')
  devices, n = tuple(devices), len(devices)
  if n == 0:
    raise ConfigError(f'no {_UNIT[accelerator]}s to give the workers; use --accelerator cpu')
  if accelerator == 'tpu' and share:
    raise ConfigError('--share-devices: TPU chips cannot be shared (one process holds a '
                      'chip); use at most one worker per chip, or --workers 1')
  if accelerator == 'gpu':
    sizes = [d for d in range(1, n + 1) if n % d == 0]
    shapes = 'a divisor of the pool'
  else:
    sizes = sorted({d for d in TPU_CHIP_BOUNDS if n % d == 0 and d < n} | {n})
    shapes = 'workers of 1, 2 or 4 chips, or one worker holding all of them'
  k = devices_per_worker
  if k and k > n:
    raise ConfigError(f'--devices-per-worker {k}, but this host has {_count(n, accelerator)}'
                      f': use at most {n}')
  if k and k not in sizes:
    raise ConfigError(f'--devices-per-worker {k} does not split the {_count(n, accelerator)}'
                      f' of this host ({shapes}): use one of {", ".join(map(str, sizes))}'
                      + (', or --workers 1' if accelerator == 'tpu' else ''))
  if not k:
    fitting = [d for d in sizes if d * num_workers <= n]
    k = max(fitting) if fitting else 1
  groups = n // k
  if num_workers > groups and not share:
    unit = _count(k, accelerator)
    if accelerator == 'tpu':
      raise ConfigError(f'--workers {num_workers} x {unit} needs {num_workers * k} chips; '
                        f'this TPU host has {n}: use --workers {groups}, or --workers 1 '
                        f'(one worker holding all chips)')
    raise ConfigError(f'--workers {num_workers} x {unit} needs {_count(num_workers * k, "gpu")}'
                      f', this host has {n}: use --workers {groups}, or add --share-devices '
                      f'to run several workers per GPU (XLA_PYTHON_CLIENT_PREALLOCATE=false)')
  slices = [devices[g * k:(g + 1) * k] for g in range(groups)]
  return [slices[i % groups] for i in range(num_workers)]


def is_shared(slices: Sequence[Sequence[str]]) -> bool:
  """Whether some device is in more than one worker's slice."""
  seen = [d for s in slices for d in s]
  return len(seen) != len(set(seen))


def worker_env(worker_index: int, num_workers: int, accelerator: str, devices: Sequence[str],
               devices_per_worker: int = 0, share: bool = False,
               base_env: Mapping[str, str] | None = None) -> dict[str, str]:
  """The environment worker ``worker_index`` of ``num_workers`` runs its cells with:
  ``base_env`` (default ``os.environ``) with its devices' variables set.

  A worker holding the whole pool alone gets ``base_env`` unchanged (one worker on a host
  is what it always was); so does every worker on CPU. GPU: ``CUDA_VISIBLE_DEVICES`` = its
  slice, and ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` when slices are shared (unless
  ``base_env`` already sets how XLA allocates GPU memory). TPU: ``TPU_VISIBLE_CHIPS``,
  ``TPU_CHIPS_PER_PROCESS_BOUNDS``, ``TPU_PROCESS_BOUNDS=1,1,1`` (a slice of one process),
  ``TPU_PROCESS_PORT`` / ``TPU_PROCESS_ADDRESSES`` (its own port). Raises ConfigError.
  """
  if not 0 <= worker_index < num_workers:
    raise ConfigError(f'worker index {worker_index} is not in [0, {num_workers})')
  env = dict(os.environ if base_env is None else base_env)
  slices = split(num_workers, accelerator, devices, devices_per_worker, share)
  mine, shared = slices[worker_index], is_shared(slices)
  if accelerator == 'cpu' or (mine == tuple(devices) and not shared):
    return env
  if accelerator == 'gpu':
    env['CUDA_VISIBLE_DEVICES'] = ','.join(mine)
    if shared and not any(v in env for v in GPU_MEMORY_VARS):
      env['XLA_PYTHON_CLIENT_PREALLOCATE'] = 'false'
    return env
  port = TPU_BASE_PORT + worker_index
  env.update({'TPU_VISIBLE_CHIPS': ','.join(mine),
              'TPU_CHIPS_PER_PROCESS_BOUNDS': TPU_CHIP_BOUNDS[len(mine)],
              'TPU_PROCESS_BOUNDS': '1,1,1',
              'TPU_PROCESS_PORT': str(port),
              'TPU_PROCESS_ADDRESSES': f'localhost:{port}'})
  return env


def describe(host: HostDevices, slices: Sequence[Sequence[str]],
             environ: Mapping[str, str] | None = None) -> str:
  """One line for the runner's log: which devices each worker got, and whether shared
  (with the memory setting ``worker_env`` chose given ``environ``, default os.environ)."""
  if host.accelerator == 'cpu':
    return 'CPU host: workers share the CPU devices (pin them with --cores-per-worker)'
  unit = 'GPU' if host.accelerator == 'gpu' else 'TPU chips'
  head = f'{unit} {",".join(host.devices)} (from {host.source})'
  if len(slices) == 1 and tuple(slices[0]) == host.devices:
    return f'{head}: one worker holds them all'
  parts = ', '.join(f'w{i}: {",".join(s)}' for i, s in enumerate(slices))
  line = f'{head} per worker: {parts}'
  if is_shared(slices):
    environ = os.environ if environ is None else environ
    own = [f'{v}={environ[v]}' for v in GPU_MEMORY_VARS if v in environ]
    line += ('; workers share GPUs: ' + (f'keeping your {", ".join(own)}' if own else
             'XLA_PYTHON_CLIENT_PREALLOCATE=false (each allocates what it uses)'))
  used = {d for s in slices for d in s}
  idle = [d for d in host.devices if d not in used]
  if idle:
    line += f'; unused: {",".join(idle)}'
  return line
