"""The reproducibility record every run directory gets (``run_info.json``)."""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import jax

from jaxstyle.runtime.config import flatten

PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'tensorflow-datasets',
            'ml-collections', 'numpy', 'pillow', 'h5py', 'jaxstyle')


_CHECKOUT = Path(__file__).resolve().parents[2]   # the folder holding jaxstyle/


def _git(*args: str) -> str | None:
  try:
    out = subprocess.run(['git', *args], cwd=_CHECKOUT,
                         capture_output=True, text=True, timeout=10)
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout.strip() if out.returncode == 0 else None


def git_state() -> dict:
  """{'commit': HEAD's hash, 'dirty': tracked files modified} of the jaxstyle checkout;
  both None when git or the repository is unavailable (an installed package)."""
  top = _git('rev-parse', '--show-toplevel')
  if top is None or Path(top).resolve() != _CHECKOUT:
    # An installed copy (site-packages), perhaps inside some other repository: no commit.
    return {'commit': None, 'dirty': None}
  commit = _git('rev-parse', 'HEAD')
  status = _git('status', '--porcelain', '--untracked-files=no')
  return {'commit': commit, 'dirty': bool(status) if status is not None else None}


# The code that runs is the code that was imported: record the repository state at
# import time, so that commits made while a long job runs do not mislabel its results.
GIT_AT_IMPORT = git_state()


def versions() -> dict:
  """{package: installed version or None} for the packages in ``PACKAGES``."""
  found = {}
  for package in PACKAGES:
    try:
      found[package] = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      found[package] = None
  return found


# x86 / Arm instruction-set extensions that change which kernels XLA and its libraries
# (YNNPACK, Eigen, oneDNN) run, and so the rounding of their results.
ISA_FLAGS = ('sse4_1', 'sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx_vnni', 'avx512f',
             'avx512dq', 'avx512cd', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx512_bf16',
             'avx512_fp16', 'amx_bf16', 'amx_tile', 'amx_int8', 'asimd', 'asimddp', 'sve',
             'sve2', 'bf16', 'i8mm', 'sme')
# Packages whose versions change the compiled programs or their kernels.
NUMERIC_PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'numpy')
# Environment variables that change XLA's numbers or what it runs on.
NUMERIC_ENV = ('XLA_FLAGS', 'PJRT_NPROC', 'JAX_ENABLE_X64', 'JAX_DEFAULT_MATMUL_PRECISION',
               'JAX_PLATFORMS', 'JAX_NUM_CPU_DEVICES', 'CUDA_VISIBLE_DEVICES',
               'TPU_VISIBLE_CHIPS', 'OMP_NUM_THREADS')


def cpu_description(cpuinfo: str | None = None) -> dict:
  """{'model', 'arch', 'isa'} of this machine's CPU, from /proc/cpuinfo where there is one
  (``cpuinfo``: its text, for tests); 'isa' lists the extensions of ``ISA_FLAGS`` it has."""
  if cpuinfo is None:
    try:
      cpuinfo = Path('/proc/cpuinfo').read_text()
    except OSError:
      cpuinfo = ''
  fields = {}
  for line in cpuinfo.splitlines():
    key, sep, value = line.partition(':')
    if sep and key.strip() not in fields:
      fields[key.strip()] = value.strip()
  model = fields.get('model name') or fields.get('Model name') or platform.processor() or None
  flags = set((fields.get('flags') or fields.get('Features') or '').split())
  return {'model': model, 'arch': platform.machine(),
          'isa': [f for f in ISA_FLAGS if f in flags]}


def plugins() -> dict:
  """Versions of installed JAX accelerator plugins (jax-cuda*-plugin/pjrt, libtpu)."""
  found = {}
  for dist in importlib.metadata.distributions():
    name = (dist.metadata['Name'] or '').lower().replace('_', '-')
    if name.startswith(('jax-cuda', 'jax-rocm', 'libtpu')):
      found[name] = dist.version
  return dict(sorted(found.items()))


def fingerprint(determinism: dict | None = None, *, devices=None,
                environ=os.environ, cpu: dict | None = None) -> dict:
  """What a run's numbers depend on besides its config, seed and code, with an ``id`` (12 hex
  digits) over exactly those fields: the CPU (model, instruction-set extensions), the
  XLA:CPU intra-op thread count (``PJRT_NPROC`` when set, else the cores this process may
  use), the XLA-relevant environment, library and plugin versions, the backend and its
  devices, and the determinism setting (``determinism.apply``'s record). Also recorded,
  outside the id: the cores visible and on the machine (they change nothing when the
  thread count is fixed)."""
  cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
  nproc = environ.get('PJRT_NPROC', '')
  threads = int(nproc) if nproc.isdigit() else cores
  devices = jax.devices() if devices is None else devices
  packages = versions()
  numeric = {
      'cpu': cpu_description() if cpu is None else cpu,
      'intra_op_threads': threads,
      'env': {k: environ[k] for k in NUMERIC_ENV if k in environ},
      'versions': {k: packages.get(k) for k in NUMERIC_PACKAGES},
      'plugins': plugins(),
      'backend': devices[0].platform if devices else None,
      'device_kind': devices[0].device_kind if devices else None,
      'device_count': len(devices),
      'process_count': jax.process_count(),
      'determinism': determinism,
  }
  digest = hashlib.sha256(json.dumps(numeric, sort_keys=True, default=str).encode())
  return {'id': digest.hexdigest()[:12], **numeric,
          'cores_visible': cores, 'cpu_count': os.cpu_count(),
          'hostname_hash': hashlib.sha256(platform.node().encode()).hexdigest()[:8]}


def describe(fp: dict) -> str:
  """One line for a fingerprint: 'AMD EPYC, avx2+fma, 2 threads, 1 x cpu, deterministic'."""
  if not fp:
    return 'unrecorded'
  cpu = fp.get('cpu') or {}
  isa = [f for f in ('avx512f', 'avx2', 'fma', 'asimd', 'sve') if f in cpu.get('isa', [])]
  det = fp.get('determinism') or {}
  mode = ('deterministic' if det.get('deterministic') else 'XLA default threads') + \
      ('' if det.get('in_effect', True) else ' (not in effect)')
  return (f'{cpu.get("model") or "unknown CPU"} ({"+".join(isa) or cpu.get("arch")}), '
          f'{fp.get("intra_op_threads")} intra-op threads, {fp.get("device_count")} x '
          f'{fp.get("device_kind")}, jax {(fp.get("versions") or {}).get("jax")}, {mode}')


def difference(a: dict | None, b: dict | None) -> list[str]:
  """The fields two fingerprints differ in, as 'key: A -> B' lines (ignoring 'id')."""
  fa, fb = flatten(a or {}), flatten(b or {})
  return [f'{k}: {fa.get(k)!r} -> {fb.get(k)!r}' for k in sorted(set(fa) | set(fb))
          if k not in ('id', 'hostname_hash') and fa.get(k) != fb.get(k)]


def collect(seed: int, argv: list[str] | None = None, determinism: dict | None = None) -> dict:
  """Everything needed to rerun and compare: seed, code, packages, hardware, command, and
  the fingerprint of what the numbers depend on (``determinism``: ``determinism.apply``'s
  record for this run)."""
  return {
      'seed': seed,
      'git': GIT_AT_IMPORT,
      'packages': versions(),
      'python': sys.version.split()[0],
      'platform': platform.platform(),
      'cpu_count': os.cpu_count(),
      # Cores this process may run on (a sweep worker pinned with --cores-per-worker).
      'cpu_affinity': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else None,
      'devices': [str(d) for d in jax.devices()],
      'device_kind': jax.devices()[0].device_kind,
      'process_count': jax.process_count(),
      'xla_flags': os.environ.get('XLA_FLAGS', ''),
      'command': list(sys.argv if argv is None else argv),
      'start_time': datetime.datetime.now(datetime.timezone.utc).isoformat(),
      'fingerprint': fingerprint(determinism),
  }
