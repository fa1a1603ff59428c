"""repro.deterministic: a GAN run and a Gatys run give bit-identical numbers on 1 and on 2
visible cores (and, as the control, XLA's default thread pool does not); the setting's
validation and environment; the run fingerprint."""

import json
import os
import subprocess
import sys
from pathlib import Path

import ml_collections
import pytest
from PIL import Image

from jaxstyle.errors import ConfigError
from jaxstyle.runtime import determinism, run_info
from tests.conftest import TEST_XLA_FLAG

ROOT = Path(__file__).resolve().parents[2]
CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else []
needs_two_cores = pytest.mark.skipif(
    len(CORES) < 2, reason='comparing 1 with 2 visible cores needs a machine with 2 cores')

# Fields that measure time, not the computation.
TIMING = ('steps_per_sec', 'eval_seconds', 'seconds', 'wall_time_s', 'elapsed_s', 'time_s')

GAN = ['mixture_ring8', '--config.train.num_steps=8', '--config.log.every=1',
       '--config.eval.every=8', '--config.checkpoint.every=8', '--config.log.sample_every=8',
       '--config.log.tensorboard=False']


def _run(args, workdir, cores, deterministic):
  """``jaxstyle run ARGS`` in a fresh process that may use only the first ``cores`` cores."""
  env = dict(os.environ, JAX_NUM_CPU_DEVICES='1')
  # The programs users run: without the suite's compile-time setting (tests/conftest.py).
  env['XLA_FLAGS'] = env.get('XLA_FLAGS', '').replace(TEST_XLA_FLAG, '').strip()
  if not deterministic:  # XLA's defaults: no fixed pool (conftest set the default one)
    env.pop('PJRT_NPROC', None)
  # The child pins itself, then execs the run (a preexec_fn would fork this multithreaded
  # JAX process and run Python in the child, which can deadlock).
  pin = ('import os, sys; os.sched_setaffinity(0, {%s}); os.execv(sys.executable, '
         '[sys.executable] + sys.argv[1:])' % ', '.join(map(str, CORES[:cores])))
  proc = subprocess.run(
      [sys.executable, '-c', pin, '-m', 'jaxstyle', 'run', *map(str, args),
       f'--workdir={workdir}', f'--config.repro.deterministic={deterministic}'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  info = json.loads((Path(workdir) / 'run_info.json').read_text())
  assert info['fingerprint']['cores_visible'] == cores
  return info


def _numbers(workdir: Path) -> dict:
  """Every logged number and the final image bytes of a run, without timings."""
  out = {}
  for name in ('metrics.jsonl', 'evals.jsonl'):
    path = workdir / name
    if path.exists():
      out[name] = [{k: v for k, v in json.loads(line).items() if k not in TIMING}
                   for line in path.read_text().splitlines() if line.strip()]
  if (workdir / 'eval.json').exists():
    out['eval.json'] = {k: v for k, v in json.loads((workdir / 'eval.json').read_text()).items()
                        if k not in TIMING}
  for png in sorted(workdir.glob('*.png')) + sorted(workdir.glob('samples/*.png')):
    out[png.name] = Image.open(png).tobytes()
  return out


@needs_two_cores
def test_gan_run_is_bit_identical_on_one_and_two_cores(tmp_path):
  runs = {(cores, det): tmp_path / f'gan_{cores}_{det}'
          for cores in (1, 2) for det in (True, False)}
  for (cores, det), workdir in runs.items():
    info = _run(GAN, workdir, cores, det)
    assert info['fingerprint']['determinism']['in_effect']
  one, two = _numbers(runs[1, True]), _numbers(runs[2, True])
  assert len(one['metrics.jsonl']) == 8
  assert one == two
  # The control: with XLA's default pool (one thread per visible core) the same run's
  # numbers change with the core count (here already the first step's logged means).
  loose_one, loose_two = _numbers(runs[1, False]), _numbers(runs[2, False])
  assert loose_one['metrics.jsonl'] != loose_two['metrics.jsonl']
  # A 2-thread pool on 2 cores is XLA's default there: the same numbers.
  assert loose_two == two
  fp = {k: json.loads((runs[k] / 'run_info.json').read_text())['fingerprint'] for k in runs}
  assert fp[1, True]['id'] == fp[2, True]['id']            # cores visible are not in the id
  assert fp[1, False]['intra_op_threads'] == 1 and fp[1, False]['id'] != fp[1, True]['id']


@needs_two_cores
def test_gatys_run_is_bit_identical_on_one_and_two_cores(tmp_path, random_vgg16_file):
  rng = __import__('numpy').random.default_rng(0)
  for name in ('content', 'style'):
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype='uint8')).save(tmp_path / f'{name}.png')
  args = ['gatys:smoke', '--config.weights=keras_vgg16',
          f'--config.weights_path={random_vgg16_file}', '--config.weights_verify=False',
          f'--config.content_image={tmp_path / "content.png"}',
          f'--config.style_images={tmp_path / "style.png"}',
          '--config.style_layers=relu1_1,relu2_1,relu3_1', '--config.content_layers=relu2_2',
          '--config.iterations=6']
  for cores in (1, 2):
    _run(args, tmp_path / f'gatys_{cores}', cores, True)
  one, two = _numbers(tmp_path / 'gatys_1'), _numbers(tmp_path / 'gatys_2')
  assert len(one['metrics.jsonl']) >= 5 and 'final.png' in one
  assert one == two


def test_setting_validation_and_environment():
  assert determinism.setting(ml_collections.ConfigDict()) == \
      determinism.Setting(True, determinism.DEFAULT_CPU_THREADS)
  c = ml_collections.ConfigDict({'repro': {'deterministic': True, 'cpu_threads': 4}})
  s = determinism.setting(c)
  assert determinism.environment_changes(s, {}) == {
      'PJRT_NPROC': '4', 'XLA_FLAGS': '--xla_gpu_deterministic_ops=true'}
  # The user's XLA flags are kept; a GPU flag already there is not repeated.
  assert determinism.environment_changes(s, {'XLA_FLAGS': '--xla_dump_to=/x'})['XLA_FLAGS'] \
      == '--xla_dump_to=/x --xla_gpu_deterministic_ops=true'
  assert determinism.environment_changes(
      s, {'PJRT_NPROC': '4', 'XLA_FLAGS': '--xla_gpu_deterministic_ops=true'}) == {}
  off = determinism.setting(ml_collections.ConfigDict({'repro': {'deterministic': False}}))
  assert off == determinism.Setting(False, None)
  assert determinism.environment_changes(off, {}) == {} and determinism.in_effect(off, {})
  for bad, match in (({'deterministic': 'yes'}, 'True or False'),
                     ({'cpu_threads': 0}, 'whole number >= 1'),
                     ({'cpu_threads': 2.5}, 'whole number >= 1')):
    with pytest.raises(ConfigError, match=match):
      determinism.setting(ml_collections.ConfigDict({'repro': bad}))


def test_once_jax_has_started_a_changed_setting_is_recorded_as_not_in_effect(capsys):
  import jax
  jax.devices()   # JAX has started in this process (conftest applied the default)
  assert determinism.backend_started()
  default = determinism.Setting(True, determinism.DEFAULT_CPU_THREADS)
  assert determinism.apply(default)['in_effect']
  record = determinism.apply(determinism.Setting(True, determinism.DEFAULT_CPU_THREADS + 1))
  assert record == {'deterministic': True, 'cpu_threads': determinism.DEFAULT_CPU_THREADS + 1,
                    'in_effect': False}
  assert os.environ['PJRT_NPROC'] == str(determinism.DEFAULT_CPU_THREADS)   # unchanged
  err = capsys.readouterr().err
  assert err.count('warning: repro.deterministic') <= 1


CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse4_1 sse4_2 avx avx2 fma avx512f avx512bw amx_tile amx_bf16

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
"""


def test_fingerprint_fields_and_id():
  cpu = run_info.cpu_description(CPUINFO)
  assert cpu['model'] == 'Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz'
  assert cpu['isa'] == ['sse4_1', 'sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512bw',
                        'amx_bf16', 'amx_tile']
  rec = {'deterministic': True, 'cpu_threads': 2, 'in_effect': True}
  env = {'PJRT_NPROC': '2', 'XLA_FLAGS': '--xla_gpu_deterministic_ops=true'}
  a = run_info.fingerprint(rec, environ=env, cpu=cpu)
  assert a == run_info.fingerprint(rec, environ=env, cpu=cpu)
  assert a['intra_op_threads'] == 2 and a['versions']['jax'] and a['backend'] == 'cpu'
  assert len(a['id']) == 12
  # Each thing the numbers depend on changes the id: the thread count, the CPU's ISA,
  # the XLA flags.
  b = run_info.fingerprint(rec, environ={**env, 'PJRT_NPROC': '4'}, cpu=cpu)
  c = run_info.fingerprint(rec, environ=env, cpu={**cpu, 'isa': ['avx', 'avx2', 'fma']})
  d = run_info.fingerprint(rec, environ={**env, 'XLA_FLAGS': ''}, cpu=cpu)
  assert len({a['id'], b['id'], c['id'], d['id']}) == 4
  assert run_info.difference(a, b) == ["env.PJRT_NPROC: '2' -> '4'", 'intra_op_threads: 2 -> 4']
  assert 'Xeon' in run_info.describe(a) and 'deterministic' in run_info.describe(a)
  assert run_info.describe({}) == 'unrecorded'
