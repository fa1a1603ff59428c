"""Deterministic execution (``repro.deterministic``): the same numbers on any core count.

What makes a compiled step's numbers change while the program, inputs and seed stay the
same (measured on this project's x86 CPU machine with jax/jaxlib 0.10.2; the programs and
numbers are in docs/reproducibility.md and ``bench/bench_determinism.py``):

* **XLA:CPU, the size of its intra-op thread pool.** The pool has one thread per core the
  process may use (``sched_getaffinity``), and two kinds of kernels split their work by it
  in ways that change the order of floating-point sums: Eigen's matrix products (XLA
  hands it the dots YNNPACK does not take, e.g. every weight gradient ``x^T dy``, whose
  block sizes depend on the thread count) and YNNPACK's reductions (sums, means). A GAN
  step run with 1 core and with 2 therefore differs in the last bits after one update, and
  2,000 updates turn that into a different run. XLA offers no flag for this
  (``--xla_cpu_multi_thread_eigen=false`` changes nothing); the pool size itself can be
  fixed with the ``PJRT_NPROC`` variable, read once when JAX starts its CPU client. With a
  fixed pool the numbers are bit-identical under any number of visible cores: the work is
  then spread over as many threads as the pool has, whatever the cores.
* **GPU**: atomics in reductions, scatter and some cuDNN/cuBLAS algorithms are
  nondeterministic run to run; ``--xla_gpu_deterministic_ops=true`` makes XLA use
  deterministic ones. (Not measured here: no GPU was available.)
* **TPU**: XLA:TPU executes deterministically; nothing is set.

``repro.deterministic=True`` (the default in every config) fixes the CPU pool at
``repro.cpu_threads`` threads (default ``DEFAULT_CPU_THREADS``) and sets the GPU flag.
The numbers then depend on ``cpu_threads`` (a run with 2 threads and one with 4 may differ
in the last bits), on the CPU's instruction set (YNNPACK picks kernels by it at run time)
and on the library versions, all of which the run's fingerprint records
(``jaxstyle.runtime.run_info.fingerprint``). ``repro.deterministic=False`` leaves the
environment as it is: XLA's defaults (a pool of one thread per visible core) unless the
user set ``PJRT_NPROC`` or ``XLA_FLAGS`` themselves.

Both settings act through environment variables that JAX reads when it starts its backend,
so ``apply`` must run before anything uses a device: ``jaxstyle run`` / ``evaluate`` do
this before they touch JAX. A process that already started JAX cannot change them; the
run then records ``in_effect: False`` and prints one warning.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Mapping, MutableMapping

from jaxstyle.errors import ConfigError

# Threads of the XLA:CPU intra-op pool in deterministic mode. Chosen by measurement (the
# table in docs/reproducibility.md): on the 2-core machine a pool of 2 costs nothing
# against XLA's default and runs at full speed on 2 cores; runs pinned to 1 core lose a
# few percent to the second thread.
DEFAULT_CPU_THREADS = 2
_GPU_FLAG = '--xla_gpu_deterministic_ops=true'

# The setting applied to this process's environment by ``apply`` (None: not yet).
_applied: 'Setting | None' = None
_warned = False


@dataclasses.dataclass(frozen=True)
class Setting:
  """``deterministic``: fix what XLA's numbers depend on besides the program; ``cpu_threads``:
  the XLA:CPU intra-op pool size when deterministic (None otherwise)."""
  deterministic: bool
  cpu_threads: int | None

  def record(self) -> dict:
    """The setting as run_info.json records it."""
    return {'deterministic': self.deterministic, 'cpu_threads': self.cpu_threads}


def setting(config) -> Setting:
  """The ``repro`` block of a config as a Setting; a config without one gets the default
  (deterministic, ``DEFAULT_CPU_THREADS``). Raises ConfigError for bad values."""
  repro = config.get('repro', None) if hasattr(config, 'get') else None
  repro = repro if repro is not None else {}
  deterministic = repro.get('deterministic', True)
  if not isinstance(deterministic, bool):
    raise ConfigError(f'repro.deterministic must be True or False, got {deterministic!r}')
  threads = repro.get('cpu_threads', DEFAULT_CPU_THREADS)
  if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
    raise ConfigError(f'repro.cpu_threads must be a whole number >= 1 (the XLA:CPU thread '
                      f'pool size in deterministic mode), got {threads!r}')
  return Setting(deterministic, threads if deterministic else None)


def environment_changes(s: Setting, environ: Mapping[str, str]) -> dict[str, str]:
  """The variables to set (name -> value) for ``s``, given the current environment."""
  if not s.deterministic:
    return {}
  changes = {}
  if environ.get('PJRT_NPROC') != str(s.cpu_threads):
    changes['PJRT_NPROC'] = str(s.cpu_threads)
  flags = environ.get('XLA_FLAGS', '').split()
  if not any(f.startswith('--xla_gpu_deterministic_ops') for f in flags):
    changes['XLA_FLAGS'] = ' '.join(flags + [_GPU_FLAG])
  return changes


def backend_started() -> bool:
  """Whether this process has already started a JAX backend (after which XLA_FLAGS and
  PJRT_NPROC are no longer read)."""
  if 'jax' not in sys.modules:
    return False
  from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
  return bool(xla_bridge.backends_are_initialized())


def in_effect(s: Setting, environ: Mapping[str, str] = os.environ) -> bool:
  """Whether the environment JAX started with (or will start with) gives setting ``s``
  (``deterministic=False`` asks for nothing, so it always holds)."""
  return not environment_changes(s, environ)


def apply(s: Setting, environ: MutableMapping[str, str] = os.environ) -> dict:
  """Sets this process up for ``s`` before JAX starts; returns the record for run_info.json
  (``deterministic``, ``cpu_threads``, ``in_effect``). Once JAX has started, nothing can
  change: a setting the process does not already have is recorded as not in effect, with
  one warning on stderr."""
  global _applied, _warned
  if not backend_started():
    environ.update(environment_changes(s, environ))
    if not s.deterministic and _applied is not None and _applied.deterministic:
      environ.pop('PJRT_NPROC', None)   # undo an earlier apply of this process
    _applied = s
    return {**s.record(), 'in_effect': True}
  effective = in_effect(s, environ)
  if not effective and not _warned:
    _warned = True
    print(f'warning: repro.deterministic={s.deterministic} could not be applied: JAX had '
          f'started before the run (set PJRT_NPROC and XLA_FLAGS first, or start runs with '
          f'`jaxstyle run`); numbers may depend on the number of cores', file=sys.stderr)
  return {**s.record(), 'in_effect': effective}


def apply_config(config) -> dict:
  """``apply(setting(config))``."""
  return apply(setting(config))
