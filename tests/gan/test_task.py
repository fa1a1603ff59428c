"""GAN runs end to end: every config's smoke variant, resume, kills, bad input."""

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from experiments.configs import (
  dcgan_celeba64,
  dcgan_cifar10,
  dcgan_mnist,
  goodfellow_mnist,
  mixture_grid25,
  mixture_ring8,
)
from jaxstyle import data
from jaxstyle.errors import ConfigError, NonFiniteLossError, OutputError
from jaxstyle.gan import evaluation as gan_eval
from jaxstyle.gan import task as gan
from jaxstyle.runtime import checkpoint
from tests.data.test_data import write_idx

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def fake_mnist(tmp_path_factory):
  """MNIST idx files in the real format with 240 random 'digits' and labels."""
  d = tmp_path_factory.mktemp('mnist')
  rng = np.random.default_rng(0)
  write_idx(d / 't10k-images-idx3-ubyte.gz', rng.integers(0, 256, (240, 28, 28)))
  write_idx(d / 't10k-labels-idx1-ubyte.gz', rng.integers(0, 10, (240,)))
  return d


def ring(**overrides):
  c = mixture_ring8.get_config('smoke')
  c.train.batch_size = 16
  c.data.num_train = 1000
  c.eval.num_samples = 200
  for k, v in overrides.items():
    node, key = k.rsplit('.', 1)
    setattr(c[node] if '.' not in node else c[node.split('.')[0]][node.split('.')[1]], key, v)
  return c


def final_state(workdir):
  mngr = ocp.CheckpointManager(Path(workdir).absolute() / 'checkpoints')
  step = mngr.latest_step()
  restored = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  mngr.close()
  return step, restored.state


def assert_same_state(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def rows(workdir):
  return [json.loads(l) for l in (Path(workdir) / 'metrics.jsonl').read_text().splitlines()]


# --------------------------------------------------------------------------- smoke runs

def test_ring_smoke_run_writes_the_run_directory(tmp_path):
  info = gan.run(ring(), tmp_path, show_progress=False)
  assert info['status'] == 'completed' and info['num_steps'] == 4
  for name in ('config.json', 'run_info.json', 'metrics.jsonl', 'eval.json',
               'samples/step_0000004.png'):
    assert (tmp_path / name).exists(), name
  assert list((tmp_path / 'tensorboard').glob('events.out.tfevents.*'))
  assert [r['step'] for r in rows(tmp_path)] == [2, 4]
  assert all('steps_per_sec' in r and 'd_loss' in r for r in rows(tmp_path))
  run_info = json.loads((tmp_path / 'run_info.json').read_text())
  assert run_info['seed'] == 0 and run_info['git']['commit'] and run_info['devices']
  assert run_info['kernels'] == {'backend': 'cpu'}  # an MLP: no hardware-specific kernels
  assert run_info['precision'] == {'precision': 'float32', 'compute_dtype': 'float32',
                                   'param_dtype': 'float32'}
  ev = json.loads((tmp_path / 'eval.json').read_text())
  assert ev['num_samples'] == 200 and ev['num_modes'] == 8
  assert final_state(tmp_path)[0] == 4


def test_same_seed_same_numbers(tmp_path):
  gan.run(ring(), tmp_path / 'a', show_progress=False)
  gan.run(ring(), tmp_path / 'b', show_progress=False)
  strip = lambda rs: [{k: v for k, v in r.items() if k != 'steps_per_sec'} for r in rs]  # noqa
  assert strip(rows(tmp_path / 'a')) == strip(rows(tmp_path / 'b'))
  assert_same_state(final_state(tmp_path / 'a')[1], final_state(tmp_path / 'b')[1])


def test_grid_smoke_with_shard_map_and_wgan_gp(tmp_path):
  c = mixture_grid25.get_config('smoke')
  c.train.batch_size, c.data.num_train, c.eval.num_samples = 16, 1000, 100
  c.parallel.mode, c.train.loss, c.train.gp_weight, c.train.d_steps = 'shard_map', 'wasserstein', 10.0, 2
  c.model.spectral_norm = True
  assert gan.run(c, tmp_path, show_progress=False)['status'] == 'completed'


def test_goodfellow_smoke_with_parzen_and_classifier_evaluation(tmp_path, fake_mnist):
  c = goodfellow_mnist.get_config('smoke')
  c.data.path, c.data.split, c.data.subset = str(fake_mnist), 'test', '0:160'
  c.train.batch_size = 16
  c.eval.update(dict(num_samples=64, validation_subset='test:160:200', test_subset='test:200:240',
                     classifier_subset='test:0:160'))
  info = gan.run(c, tmp_path, show_progress=False)
  ev = json.loads((tmp_path / 'eval.json').read_text())
  assert ev['parzen']['num_samples'] == 64 and ev['parzen']['num_test'] == 40
  assert np.isclose(np.logspace(-1, 0, 10), ev['parzen']['sigma']).any()
  assert np.isfinite(ev['classifier']['frechet_distance'])
  assert 'parzen_log_likelihood' in info['eval']


# The bfloat16 step is checked in test_precision; this whole run (~30 s) is the slow tier.
@pytest.mark.slow
def test_dcgan_mnist_smoke_in_mixed_precision(tmp_path, fake_mnist):
  c = dcgan_mnist.get_config('smoke')
  c.data.path, c.data.split, c.data.subset = str(fake_mnist), 'test', '0:160'
  c.train.batch_size, c.model.ngf, c.model.ndf, c.eval.kind = 16, 8, 8, 'none'
  c.train.ema_decay = 0.99
  c.precision = 'bfloat16'
  info = gan.run(c, tmp_path, show_progress=False)
  assert info['status'] == 'completed'
  assert (tmp_path / 'samples' / 'step_0000004.png').exists()
  assert info['precision'] == {'precision': 'bfloat16', 'compute_dtype': 'bfloat16',
                               'param_dtype': 'float32'}
  assert info['kernels'] == {'backend': 'cpu', 'dcgan_conv': 'xla',
                             'dcgan_conv_transpose': 'matmul'}
  # The checkpoint holds float32 parameters, optimiser states, statistics and EMA weights.
  floats = [x for x in jax.tree.leaves(final_state(tmp_path)[1])
            if np.issubdtype(np.asarray(x).dtype, np.floating)]
  assert floats and {np.asarray(x).dtype for x in floats} == {np.dtype('float32')}


@pytest.mark.parametrize('config_module', [
    # a whole GAN run on TFDS mock data (~60 s each); the TFDS reads themselves are in
    # tests/data, so both are the slow tier
    pytest.param(dcgan_cifar10, marks=pytest.mark.slow),
    pytest.param(dcgan_celeba64, marks=pytest.mark.slow)],
    ids=['dcgan_cifar10', 'dcgan_celeba64'])
def test_tfds_dcgan_smoke_on_mock_data(tmp_path, config_module, monkeypatch):
  tfds = pytest.importorskip('tensorflow_datasets')
  c = config_module.get_config('smoke')
  c.train.batch_size, c.model.ngf, c.model.ndf, c.data.download = 8, 4, 4, True
  if config_module is dcgan_cifar10:
    # The FID path end to end, with random Inception weights (the real file is not here).
    from jaxstyle.metrics import inception
    from tests.metrics.test_inception import random_state_dict
    variables = inception.variables_from_state_dict(random_state_dict())
    monkeypatch.setattr(inception, 'load_variables', lambda path=None: variables)
    c.eval.update(dict(kind='fid', num_samples=6, num_real=6, is_splits=2))
  with tfds.testing.mock_data(num_examples=16, policy=tfds.testing.MockPolicy.USE_CODE):
    info = gan.run(c, tmp_path, show_progress=False)
  assert info['status'] == 'completed'
  if config_module is dcgan_cifar10:
    fid = json.loads((tmp_path / 'eval.json').read_text())['fid']
    assert fid['num_generated'] == fid['num_real'] == 6 and np.isfinite(fid['fid'])
    assert fid['reference'] == 'cifar10:test' and 'bilinear' in fid['resize']
    ev = json.loads((tmp_path / 'eval.json').read_text())
    assert ev['inception_score']['splits'] == 2 and ev['inception_score']['mean'] >= 1.0
    assert ev['prdc']['num_real'] == ev['prdc']['num_fake'] == 6


# --------------------------------------------------------------------------- resume

def test_resume_after_n_steps_equals_an_uninterrupted_run(tmp_path):
  c = ring(**{'train.num_steps': 6})
  gan.run(c, tmp_path / 'straight', show_progress=False)
  gan.run(ring(**{'train.num_steps': 3}), tmp_path / 'resumed', show_progress=False)
  info = gan.run(c, tmp_path / 'resumed', show_progress=False)
  assert info['resumed_from_step'] == 3
  s1, a = final_state(tmp_path / 'straight')
  s2, b = final_state(tmp_path / 'resumed')
  assert s1 == s2 == 6
  assert_same_state(a, b)
  strip = lambda rs: [{k: v for k, v in r.items() if k != 'steps_per_sec'} for r in rs]  # noqa
  assert strip(rows(tmp_path / 'straight'))[-1] == strip(rows(tmp_path / 'resumed'))[-1]


def test_periodic_evaluations_end_with_the_final_one_made_once(tmp_path, monkeypatch):
  calls = []
  original = gan_eval.evaluate

  def counted(config, trainer, state, *args):
    calls.append(int(state.step))
    return original(config, trainer, state, *args)

  monkeypatch.setattr(gan_eval, 'evaluate', counted)
  evals = lambda d: [json.loads(l) for l in (d / 'evals.jsonl').read_text().splitlines()]  # noqa
  # 5 steps, every 2: evaluated at 2 and 4 in the loop, and once at the end.
  gan.run(ring(**{'train.num_steps': 5, 'eval.every': 2}), tmp_path / 'a', show_progress=False)
  assert calls == [2, 4, 5] and [e['step'] for e in evals(tmp_path / 'a')] == [2, 4, 5]
  final = json.loads((tmp_path / 'a' / 'eval.json').read_text())
  assert all(evals(tmp_path / 'a')[-1][k] == final[k] for k in ('modes', 'hq'))
  # 4 steps, every 2: the last step is a multiple of eval.every and is evaluated once.
  calls.clear()
  c = ring(**{'train.num_steps': 4, 'eval.every': 2})
  gan.run(c, tmp_path / 'b', show_progress=False)
  assert calls == [2, 4] and [e['step'] for e in evals(tmp_path / 'b')] == [2, 4]
  # Running a completed run again re-evaluates its final state and replaces that row.
  gan.run(c, tmp_path / 'b', show_progress=False)
  assert [e['step'] for e in evals(tmp_path / 'b')] == [2, 4]


# Runs `jaxstyle run` with Orbax's rename of checkpoint 4 held open: the arrays of step 4
# are written into its temporary directory, then the process announces it and waits there.
HOLD_SAVE = """
import asyncio, pathlib, sys
from orbax.checkpoint._src.path import atomicity
marker = pathlib.Path(sys.argv[1])
original = atomicity.AtomicRenameTemporaryPath.finalize
async def finalize(self):
  if self._final_path.name == '4':
    marker.write_text(str(self._tmp_path))
    await asyncio.sleep(3600)   # the test kills the process here
  return await original(self)
atomicity.AtomicRenameTemporaryPath.finalize = finalize
from jaxstyle import cli
sys.exit(cli.main(sys.argv[2:]))
"""


def test_a_run_killed_during_a_save_resumes_from_the_last_complete_checkpoint(tmp_path):
  args = ['run', 'mixture_ring8:smoke', '--config.train.batch_size=16',
          '--config.data.num_train=1000', '--config.train.num_steps=6',
          '--config.eval.kind=none', '--workdir', str(tmp_path / 'k')]
  marker = tmp_path / 'saving_step_4'
  proc = subprocess.Popen([sys.executable, '-c', HOLD_SAVE, str(marker), *args], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
  deadline = time.time() + 300
  while not marker.exists() and proc.poll() is None and time.time() < deadline:
    time.sleep(0.2)
  assert marker.exists(), proc.communicate()[0][-2000:]
  proc.kill()   # SIGKILL while checkpoint 4 is half-way through its write
  proc.wait()
  ckpts = tmp_path / 'k' / 'checkpoints'
  unfinished = Path(marker.read_text())
  assert unfinished.exists() and unfinished.parent == ckpts and unfinished.name.startswith('4.')
  assert sorted(p.name for p in ckpts.iterdir() if p.name.isdigit()) == ['2']
  # Opening the directory (as the resumed run does first) ignores the unfinished write
  # and removes it (in the background; done by the time the manager is closed).
  reopened = checkpoint.Checkpointer(ckpts, 2, remove_unfinished=True)
  assert reopened.latest_step() == 2
  reopened.close()
  assert not unfinished.exists()

  resumed = subprocess.run([sys.executable, '-m', 'jaxstyle', *args], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  info = json.loads((tmp_path / 'k' / 'run_info.json').read_text())
  assert info['resumed_from_step'] == 2 and info['status'] == 'completed'
  # The uninterrupted reference, in this process (same 8 simulated devices).
  c = ring(**{'train.num_steps': 6})
  c.eval.kind = 'none'
  gan.run(c, tmp_path / 's', show_progress=False)
  assert_same_state(final_state(tmp_path / 'k')[1], final_state(tmp_path / 's')[1])


# --------------------------------------------------------------------------- failures

def test_non_finite_loss_names_the_step_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
  original = data.Loader.batch

  def poisoned(self, step):
    x = original(self, step)
    return x * np.nan if step >= 2 else x   # steps are 0-based: step 3 is the first bad one

  monkeypatch.setattr(data.Loader, 'batch', poisoned)
  with pytest.raises(NonFiniteLossError, match=r'non-finite at step 3; training stopped, the '
                                               r'last checkpoint \(step 2\)') as e:
    gan.run(ring(**{'train.num_steps': 6}), tmp_path, show_progress=False)
  assert e.value.step == 3
  step, state = final_state(tmp_path)
  assert step == 2
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state))
  assert json.loads((tmp_path / 'run_info.json').read_text())['status'] == 'non_finite'


def test_full_disk_during_a_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
  """ENOSPC raised inside Orbax's asynchronous writer (after save() has returned)."""
  from orbax.checkpoint._src.path import atomicity
  original = atomicity.AtomicRenameTemporaryPath.finalize
  seen = []

  async def full_disk(self):
    if self._final_path.name == '4':
      seen.append(threading.current_thread() is not threading.main_thread())
      raise OSError(errno.ENOSPC, 'No space left on device')
    return await original(self)

  monkeypatch.setattr(atomicity.AtomicRenameTemporaryPath, 'finalize', full_disk)
  with pytest.raises(OutputError, match=r'checkpoint at step 4 .* the disk is full; the '
                                        r'checkpoint at step 2 is intact'):
    gan.run(ring(**{'train.num_steps': 6}), tmp_path, show_progress=False)
  assert seen == [True]   # it failed in the background writer, not in save()
  assert json.loads((tmp_path / 'run_info.json').read_text())['status'] == 'failed'
  monkeypatch.setattr(atomicity.AtomicRenameTemporaryPath, 'finalize', original)
  info = gan.run(ring(**{'train.num_steps': 6}), tmp_path, show_progress=False)
  assert info['resumed_from_step'] == 2 and final_state(tmp_path)[0] == 6


def test_checkpoint_of_another_config_is_refused(tmp_path):
  old = ring()
  del old['precision']  # a run from before the key existed: it trained in float32
  gan.run(old, tmp_path, show_progress=False)
  with pytest.raises(ConfigError, match=r'different model or config \(model.spectral_norm: '
                                        r'checkpoint False != config True'):
    gan.run(ring(**{'model.spectral_norm': True}), tmp_path, show_progress=False)
  mixed = ring()
  mixed.precision = 'bfloat16'
  with pytest.raises(ConfigError, match=r"precision: checkpoint 'float32' != config 'bfloat16'"):
    gan.run(mixed, tmp_path, show_progress=False)
  # Training longer is a resumable change, not a different config.
  assert gan.run(ring(**{'train.num_steps': 6}), tmp_path, show_progress=False)['status'] == 'completed'


def test_fingerprint_ignores_only_resumable_keys():
  fp = checkpoint.fingerprint({'train': {'num_steps': 5, 'loss': 'hinge'}, 'log': {'every': 3},
                               'data': {'path': '/x', 'name': 'ring8'}})
  assert fp == {'train.loss': 'hinge', 'data.name': 'ring8'}


def test_cli_prints_one_error_line_for_an_indivisible_batch(tmp_path):
  out = subprocess.run([sys.executable, '-m', 'experiments.main', '--config',
                        'experiments/configs/mixture_ring8.py:smoke', '--config.train.batch_size=12',
                        '--workdir', str(tmp_path / 'w')],
                       cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)},
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 2
  assert out.stderr.strip().splitlines()[-1] == (
      'error: the global batch (12) must be a positive multiple of the device count (8); '
      'set train.batch_size to a multiple of 8')
  assert not (tmp_path / 'w').exists()


def test_unknown_dataset_and_split_are_one_line_errors(tmp_path):
  pytest.importorskip('tensorflow_datasets')
  c = dcgan_cifar10.get_config('smoke')
  c.data.name = 'cifar11'
  with pytest.raises(ConfigError, match="unknown TFDS dataset 'cifar11'"):
    gan.run(c, tmp_path / 'a', show_progress=False)
  c = mixture_ring8.get_config('smoke')
  c.data.name = 'ring9'
  with pytest.raises(ConfigError, match="unknown mixture 'ring9'"):
    gan.run(c, tmp_path / 'b', show_progress=False)
  assert not (tmp_path / 'a').exists() and not (tmp_path / 'b').exists()


def test_corrupt_image_folder_stops_before_anything_is_written(tmp_path):
  from PIL import Image
  folder = tmp_path / 'images'
  folder.mkdir()
  for i in range(3):
    Image.fromarray(np.full((40, 40, 3), 60 * i, np.uint8)).save(folder / f'{i}.png')
  (folder / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
  c = dcgan_mnist.get_config('smoke')
  c.data.update(dict(kind='folder', path=str(folder), subset='', channels=1,
                     verify_images='upfront'))
  c.eval.kind = 'none'
  from jaxstyle.errors import ImageError
  with pytest.raises(ImageError, match=r'broken\.jpg: cannot decode image'):
    gan.run(c, tmp_path / 'run', show_progress=False)
  assert not (tmp_path / 'run').exists()
  # Checked lazily (the default), it stops the first step that needs it, named alike.
  c.data.verify_images = 'lazy'
  with pytest.raises(ImageError, match=r'broken\.jpg: cannot decode image.*on_bad_image=skip'):
    gan.run(c, tmp_path / 'lazy', show_progress=False)
  assert json.loads((tmp_path / 'lazy' / 'run_info.json').read_text())['status'] == 'failed'


def test_evaluate_any_saved_step_again(tmp_path, monkeypatch):
  gan.run(ring(**{'train.num_steps': 4}), tmp_path, show_progress=False)
  # result['step'] only echoes the step asked for: which state was evaluated is read
  # from the restored state's own step counter.
  evaluated_steps = []
  original = gan_eval.evaluate

  def recorded(config, trainer, state, *args):
    evaluated_steps.append(int(state.step))
    return original(config, trainer, state, *args)

  monkeypatch.setattr(gan_eval, 'evaluate', recorded)
  result = gan_eval.evaluate_checkpoint(tmp_path, step=2, overrides=[('eval.num_samples', '300')])
  assert evaluated_steps == [2] and result['step'] == 2 and result['num_samples'] == 300
  assert json.loads((tmp_path / 'eval_step_2.json').read_text()) == result
  final = gan_eval.evaluate_checkpoint(tmp_path)
  assert evaluated_steps == [2, 4] and final['step'] == 4
  assert final == {**json.loads((tmp_path / 'eval.json').read_text()), 'step': 4,
                   'eval_seconds': final['eval_seconds'], 'num_samples': 200}
  with pytest.raises(ConfigError, match='no checkpoint at step 3'):
    gan_eval.evaluate_checkpoint(tmp_path, step=3)
  with pytest.raises(ConfigError, match=r'only eval\.\* keys'):
    gan_eval.evaluate_checkpoint(tmp_path, overrides=[('train.loss', 'hinge')])


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_run_after_the_step_in_progress(tmp_path, monkeypatch, signum):
  original = data.Loader.batch

  def signalled(self, step):
    if step == 1:  # arrives while step 2 is being computed
      os.kill(os.getpid(), signum)
    return original(self, step)

  monkeypatch.setattr(data.Loader, 'batch', signalled)
  before = signal.getsignal(signum)
  with pytest.raises(KeyboardInterrupt):
    gan.run(ring(**{'train.num_steps': 6, 'checkpoint.every': 4}), tmp_path, show_progress=False)
  assert final_state(tmp_path)[0] == 2
  assert [r['step'] for r in rows(tmp_path)] == [2]
  assert json.loads((tmp_path / 'run_info.json').read_text())['status'] == 'interrupted'
  assert signal.getsignal(signum) == before


def test_a_signal_during_the_last_step_stops_before_the_final_evaluation(tmp_path, monkeypatch):
  original = data.Loader.batch

  def signalled(self, step):
    if step == 3:  # the last step
      os.kill(os.getpid(), signal.SIGTERM)
    return original(self, step)

  monkeypatch.setattr(data.Loader, 'batch', signalled)
  with pytest.raises(KeyboardInterrupt):
    gan.run(ring(), tmp_path, show_progress=False)
  assert final_state(tmp_path)[0] == 4
  assert not (tmp_path / 'eval.json').exists()
  assert json.loads((tmp_path / 'run_info.json').read_text())['status'] == 'interrupted'
  monkeypatch.setattr(data.Loader, 'batch', original)
  info = gan.run(ring(), tmp_path, show_progress=False)   # only the evaluation is left
  assert info['status'] == 'completed' and info['resumed_from_step'] == 4
  assert (tmp_path / 'eval.json').exists()


def test_interrupt_checkpoints_the_last_completed_step(tmp_path, monkeypatch):
  original = data.Loader.batch

  def interrupted(self, step):
    if step == 3:
      raise KeyboardInterrupt
    return original(self, step)

  monkeypatch.setattr(data.Loader, 'batch', interrupted)
  with pytest.raises(KeyboardInterrupt):
    gan.run(ring(**{'train.num_steps': 6, 'checkpoint.every': 4}), tmp_path, show_progress=False)
  assert final_state(tmp_path)[0] == 3   # no periodic checkpoint before step 4
  assert json.loads((tmp_path / 'run_info.json').read_text())['status'] == 'interrupted'
  monkeypatch.setattr(data.Loader, 'batch', original)
  info = gan.run(ring(**{'train.num_steps': 6, 'checkpoint.every': 4}), tmp_path,
                 show_progress=False)
  assert info['resumed_from_step'] == 3
  gan.run(ring(**{'train.num_steps': 6, 'checkpoint.every': 4}), tmp_path / 'straight',
          show_progress=False)
  assert_same_state(final_state(tmp_path)[1], final_state(tmp_path / 'straight')[1])


def test_a_failure_after_training_is_recorded_as_failed(tmp_path, monkeypatch):
  def broken(*args, **kwargs):
    raise ConfigError('eval.inception_weights: no such file')

  c = ring()
  monkeypatch.setattr(gan_eval, 'evaluate', broken)
  with pytest.raises(ConfigError, match='no such file'):
    gan.run(c, tmp_path, show_progress=False)
  info = json.loads((tmp_path / 'run_info.json').read_text())
  assert info['status'] == 'failed' and final_state(tmp_path)[0] == 4
