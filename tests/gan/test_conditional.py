"""Class-conditional GANs: projection and AC-GAN heads, labelled steps on 1 vs 8 devices,
exact resume of a conditional SNGAN run, conditional evaluation, and the one-line errors."""

import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from experiments.configs import dcgan_mnist, mixture_ring8, sngan_mnist
from jaxstyle.errors import ConfigError
from jaxstyle.gan import losses, models, train
from jaxstyle.gan import task as gan
from jaxstyle.metrics import modes as mode_metrics
from jaxstyle.runtime import parallel
from tests.data.test_data import write_idx
from tests.gan.test_task import assert_same_state, final_state, rows

ADAM = ml_collections.ConfigDict(dict(name='adam', lr=2e-4, b1=0.0, b2=0.9))
# SGD for the 1-vs-8 comparisons: Adam turns the rounding noise of a gradient that is zero
# in exact arithmetic (a conv bias in front of BatchNorm) into a full +-lr step.
from tests.gan.test_parallel import SGD  # noqa: E402


@pytest.fixture(scope='module')
def fake_mnist(tmp_path_factory):
  d = tmp_path_factory.mktemp('mnist')
  rng = np.random.default_rng(0)
  write_idx(d / 't10k-images-idx3-ubyte.gz', rng.integers(0, 256, (240, 28, 28)))
  write_idx(d / 't10k-labels-idx1-ubyte.gz', rng.integers(0, 10, (240,)))
  return d


def conditional_trainer(arch, shape, conditioning, k=10, opt=ADAM, **step_kw):
  c = ml_collections.ConfigDict(dict(arch=arch, ngf=8, ndf=8, conditioning=conditioning,
                                     spectral_norm=arch.startswith('sngan')))
  m = models.build(c, shape, num_classes=k)
  return train.GANTrainer(m, train.StepConfig(**step_kw), train.make_optimizer(opt),
                          train.make_optimizer(opt))


# --------------------------------------------------------------------------- heads

def test_projection_adds_the_class_embedding_times_the_features():
  shape, y = (28, 28, 1), jnp.array([0, 3, 3, 9])
  c = ml_collections.ConfigDict(dict(arch='dcgan28', ndf=8, ngf=8, d_norm='none'))
  plain = models.build(c, shape).discriminator
  c.conditioning = 'projection'
  proj = models.build(c, shape, num_classes=10).discriminator
  x = jax.random.normal(jax.random.key(0), (4, *shape))
  params = proj.init(jax.random.key(1), x, train=False, y=y)['params']
  table = params['class_embed']['embed']['embedding']
  zero = {**params, 'class_embed': {'embed': {'embedding': jnp.zeros_like(table)}}}
  base = {k: v for k, v in params.items() if k != 'class_embed'}
  # With a zero embedding the projection D is the unconditional D with the same weights.
  np.testing.assert_array_equal(proj.apply({'params': zero}, x, train=False, y=y),
                                plain.apply({'params': base}, x, train=False))
  # The class term is <V[y], h>: one-hot rows of V read single features of h, and the
  # term of example i depends only on row y_i.
  diff = jax.jit(lambda tbl: (proj.apply({'params': {**params, 'class_embed': {'embed': {
      'embedding': tbl}}}}, x, train=False, y=y) - plain.apply({'params': base}, x,
                                                               train=False)))
  features = np.stack([np.asarray(diff(jnp.zeros_like(table).at[:, j].set(1.0)))
                       for j in range(table.shape[1])], 1)   # (4, F): h of each example
  np.testing.assert_allclose(diff(table), np.sum(np.asarray(table)[np.asarray(y)] * features, 1),
                             rtol=1e-4, atol=1e-5)
  other = table.at[5].set(100.0)   # class 5 is not in y
  np.testing.assert_allclose(diff(other), diff(table), rtol=1e-6)


def test_acgan_losses_add_the_class_cross_entropy():
  tr = conditional_trainer('pacgan_mlp', (2,), 'acgan', k=8, ac_weight=0.5)
  state = tr.init(0, (2,))
  rng = np.random.default_rng(0)
  real, fake = rng.normal(size=(2, 16, 2)).astype(np.float32)
  y_real, y_fake = rng.integers(0, 8, 16), rng.integers(0, 8, 16)
  d = tr.models.discriminator
  stats = state.d_stats

  def manual(x, y):
    (logit, cls), _ = d.apply({'params': state.d_params, **stats}, x, train=True,
                              y=jnp.asarray(y), mutable=list(stats))
    return logit, cls
  (rl, rc), (fl, fc) = manual(real, y_real), manual(fake, y_fake)
  ce = lambda c, y: optax.softmax_cross_entropy_with_integer_labels(c, y).mean()  # noqa: E731
  expected = losses.d_loss('non_saturating', rl, fl) + 0.5 * (ce(rc, y_real) + ce(fc, y_fake))
  fn = jax.jit(jax.vmap(lambda _: tr._d_loss(state.d_params, stats, real, fake, jax.random.key(1),
                                     jnp.asarray(y_real), jnp.asarray(y_fake))[0],
                axis_name='batch'))
  np.testing.assert_allclose(fn(jnp.zeros(1))[0], expected, rtol=1e-5)
  np.testing.assert_allclose(losses.class_loss(rc, jnp.asarray(y_real)), ce(rc, y_real),
                             rtol=1e-6)


# --------------------------------------------------------------------------- 1 vs 8 devices

def _steps(tr, shape, batch, devices, mode='pmap', steps=2):
  state = tr.init(0, shape)
  if devices == len(jax.devices()):
    dp = parallel.DataParallel(tr.step, mode)
    state, call = dp.put_state(state), dp
  else:
    fn = jax.pmap(tr.step, axis_name='batch', in_axes=(None, 1), out_axes=(None, None),
                  devices=jax.devices()[:devices])
    split = lambda b: b.reshape(b.shape[0], devices, -1, *b.shape[2:])  # noqa: E731
    call = lambda s, b: fn(s, tuple(split(p) for p in b))  # noqa: E731
  history = []
  for _ in range(steps):
    state, metrics = call(state, batch)
    history.append(jax.device_get(metrics))
  return jax.device_get(state), history


# The default run keeps the labelled step with every DiffAugment op on the cheapest image
# networks; the SNGAN ResNets (~2 min each on 2 cores, mostly compilation) are the slow tier.
@pytest.mark.parametrize('arch,conditioning,augment', [
    ('dcgan28', 'projection', 'color,translation,cutout'),
    pytest.param('sngan28', 'projection', 'color,translation,cutout', marks=pytest.mark.slow),
    pytest.param('sngan28', 'acgan', 'translation', marks=pytest.mark.slow)])
def test_conditional_gan_on_one_and_eight_devices_agree(arch, conditioning, augment):
  assert jax.device_count() == 8
  shape = (28, 28, 1)
  tr = conditional_trainer(arch, shape, conditioning, opt=SGD, loss='hinge', d_steps=2,
                           augment=augment, ema_decay=0.9)
  rng = np.random.default_rng(0)
  batch = (rng.uniform(-1, 1, (2, 16, *shape)).astype(np.float32),
           rng.integers(0, 10, (2, 16)).astype(np.int32))
  s1, h1 = _steps(tr, shape, batch, 1)
  s8, h8 = _steps(tr, shape, batch, 8)
  assert set(h1[0]) >= {'d_loss', 'g_loss'}
  if conditioning == 'acgan':
    assert 'd_class_loss_real' in h1[0]
  for a, b in zip(h1, h8):
    for k in a:
      np.testing.assert_allclose(a[k], b[k], rtol=2e-4, atol=2e-5, err_msg=k)
  for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s8)):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
  if conditioning == 'acgan':   # the same labelled step under shard_map, bit for bit
    ss, hs = _steps(tr, shape, batch, 8, 'shard_map')
    assert hs == h8
    assert_same_state(ss, s8)


def test_real_labels_change_the_step():
  shape = (2,)
  tr = conditional_trainer('pacgan_mlp', shape, 'projection', k=8)
  rng = np.random.default_rng(0)
  x = rng.normal(size=(1, 16, 2)).astype(np.float32)
  y = rng.integers(0, 8, (1, 16)).astype(np.int32)
  _, h = _steps(tr, shape, (x, y), 8)
  _, h2 = _steps(tr, shape, (x, (y + 1) % 8), 8)
  assert h[0]['d_loss'] != h2[0]['d_loss']


# --------------------------------------------------------------------------- runs

def conditional_smoke(path, config=sngan_mnist, **overrides):
  c = config.get_config('smoke,projection')
  c.data.update(dict(path=str(path), split='test', subset='0:200'))
  c.model.ngf, c.model.ndf = 8, 8
  c.train.batch_size = 16
  c.eval.kind = 'none'
  for k, v in overrides.items():
    node, key = k.split('.')
    c[node][key] = v
  return c


# DCGAN-28 in the default run; the SNGAN ResNet (~75 s on 2 cores) is the slow tier.
@pytest.mark.parametrize('config', [dcgan_mnist, pytest.param(sngan_mnist,
                                                             marks=pytest.mark.slow)],
                         ids=['dcgan28', 'sngan28'])
def test_conditional_run_resumes_exactly(tmp_path, fake_mnist, config):
  run = lambda steps, name: gan.run(  # noqa: E731
      conditional_smoke(fake_mnist, config, **{'train.num_steps': steps}), tmp_path / name,
      show_progress=False)
  run(6, 'straight')
  run(3, 'resumed')
  info = run(6, 'resumed')
  assert info['resumed_from_step'] == 3
  s1, a = final_state(tmp_path / 'straight')
  s2, b = final_state(tmp_path / 'resumed')
  assert s1 == s2 == 6
  assert_same_state(a, b)
  strip = lambda rs: [{k: v for k, v in r.items() if k != 'steps_per_sec'} for r in rs]  # noqa
  assert strip(rows(tmp_path / 'straight'))[-1] == strip(rows(tmp_path / 'resumed'))[-1]
  run_info = json.loads((tmp_path / 'straight' / 'run_info.json').read_text())
  assert run_info['class_names'] == [str(d) for d in range(10)]
  assert run_info['conditioning'] == 'projection'


def test_conditional_dcgan_evaluation_and_sample_command(tmp_path, fake_mnist, capsys):
  from jaxstyle import cli
  c = dcgan_mnist.get_config('smoke,acgan')
  c.data.update(dict(path=str(fake_mnist), split='test', subset='0:200'))
  c.model.ngf, c.model.ndf = 8, 8
  c.train.batch_size, c.train.ema_decay = 16, 0.5
  c.eval.update(dict(num_samples=100, validation_subset='test:200:240',
                     test_subset='test:200:240', classifier_subset='test:0:200'))
  gan.run(c, tmp_path / 'run', show_progress=False)
  ev = json.loads((tmp_path / 'run' / 'eval.json').read_text())
  acc = ev['conditional']['classifier_accuracy']
  assert acc['num_classes'] == 10 and len(acc['per_class']) == 10
  assert set(ev['classifier']) >= {'precision', 'recall', 'density', 'coverage'}
  assert len(ev['conditional']['intra_class_frechet']['per_class']) == 10
  # jaxstyle sample: a class-by-row grid, an .npz with labels, EMA vs raw weights.
  run = str(tmp_path / 'run')
  assert cli.main(['sample', '--workdir', run, '--out', str(tmp_path / 'g.png'),
                   '--per-class', '3']) == 0
  from PIL import Image
  w, h = Image.open(tmp_path / 'g.png').size
  assert (w, h) == (3 * 30 + 2, 10 * 30 + 2)   # 10 rows of 3 tiles of 28 px, pad 2
  npz = tmp_path / 'three.npz'
  assert cli.main(['sample', '--workdir', run, '--out', str(npz), '--class', '3,7',
                   '--per-class', '2']) == 0
  z = np.load(npz)
  assert z['labels'].tolist() == [3, 3, 7, 7] and z['samples'].shape == (4, 28, 28, 1)
  assert bool(z['ema']) and 0 <= z['samples'].min() and z['samples'].max() <= 1
  raw = tmp_path / 'raw.npz'
  assert cli.main(['sample', '--workdir', run, '--out', str(raw), '--class', '3,7',
                   '--per-class', '2', '--no-ema']) == 0
  assert not np.array_equal(np.load(raw)['samples'], z['samples'])
  # The same command gives the same file.
  again = tmp_path / 'again.npz'
  cli.main(['sample', '--workdir', run, '--out', str(again), '--class', '3,7', '--per-class', '2'])
  np.testing.assert_array_equal(np.load(again)['samples'], z['samples'])
  capsys.readouterr()
  assert cli.main(['sample', '--workdir', run, '--out', str(tmp_path / 'x.npz'),
                   '--class', '10']) == 2
  assert "error: --class '10' is not a class of" in capsys.readouterr().err
  assert not (tmp_path / 'x.npz').exists()


def test_conditional_ring_per_class_mode_accuracy_and_unconditional_sample_errors(tmp_path,
                                                                                  capsys):
  from jaxstyle import cli
  c = mixture_ring8.get_config('smoke')
  c.train.batch_size, c.data.num_train, c.eval.num_samples = 16, 1000, 200
  c.model.conditioning = 'projection'
  gan.run(c, tmp_path / 'cond', show_progress=False)
  ev = json.loads((tmp_path / 'cond' / 'eval.json').read_text())
  assert len(ev['conditional']['per_class']) == 8
  c.model.conditioning = 'none'
  gan.run(c, tmp_path / 'plain', show_progress=False)
  assert 'conditional' not in json.loads((tmp_path / 'plain' / 'eval.json').read_text())
  capsys.readouterr()
  assert cli.main(['sample', '--workdir', str(tmp_path / 'plain'), '--out',
                   str(tmp_path / 's.png'), '--class', '1']) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and 'is an unconditional run (model.conditioning=none)' in err[0]
  assert not (tmp_path / 's.png').exists()
  assert cli.main(['sample', '--workdir', str(tmp_path / 'plain'), '--out',
                   str(tmp_path / 'pts.npz'), '--num', '10']) == 0
  assert np.load(tmp_path / 'pts.npz')['samples'].shape == (10, 2)


def test_class_mode_accuracy_by_hand():
  centers, std = np.array([[0.0, 0.0], [10.0, 0.0]]), 1.0
  x = np.array([[0.5, 0], [9.0, 0], [10, 0], [5, 0]])
  # sample 0 of class 0 at mode 0 (right), 1 of class 0 at mode 1 (wrong), 2 of class 1 at
  # mode 1 (right), 3 of class 1 far from every mode (not high quality: wrong).
  r = mode_metrics.class_mode_accuracy(x, [0, 0, 1, 1], centers, std)
  assert r['per_class'] == [0.5, 0.5] and r['accuracy'] == 0.5


# --------------------------------------------------------------------------- bad input

def test_conditional_config_errors_before_anything_is_written(tmp_path):
  unlabelled = tmp_path / 'mnist'
  unlabelled.mkdir()
  write_idx(unlabelled / 't10k-images-idx3-ubyte', np.zeros((40, 28, 28)))
  c = dcgan_mnist.get_config('smoke,projection')
  c.data.update(dict(path=str(unlabelled), split='test', subset=''))
  with pytest.raises(ConfigError, match='model.conditioning=projection needs a labelled '
                                        'dataset .* the data has 0'):
    gan.run(c, tmp_path / 'a', show_progress=False)
  c = mixture_ring8.get_config('smoke,pack2')
  c.model.conditioning = 'acgan'
  with pytest.raises(ConfigError, match='model.pack=2 .* set model.pack=1'):
    gan.run(c, tmp_path / 'b', show_progress=False)
  c = mixture_ring8.get_config('smoke')
  c.model.conditioning = 'projected'
  with pytest.raises(ConfigError, match='model.conditioning must be one of none, projection'):
    gan.run(c, tmp_path / 'c', show_progress=False)
  c = mixture_ring8.get_config('smoke')
  c.train.augment = 'translation'
  with pytest.raises(ConfigError, match='DiffAugment transforms images'):
    gan.run(c, tmp_path / 'd', show_progress=False)
  c = dcgan_mnist.get_config('smoke')
  c.train.augment = 'rotate'
  with pytest.raises(ConfigError, match='rotate'):
    gan.run(c, tmp_path / 'e', show_progress=False)
  for name in 'abcde':
    assert not (tmp_path / name).exists(), name


def test_a_run_from_before_conditioning_existed_resumes(tmp_path):
  """Checkpoints written before model.conditioning, train.ac_weight and train.augment
  existed hold fingerprints without them; they were unconditional, unaugmented runs."""
  c = mixture_ring8.get_config('smoke')
  c.train.batch_size, c.data.num_train, c.eval.kind = 16, 1000, 'none'
  c.train.num_steps = 2
  gan.run(c, tmp_path, show_progress=False)
  for meta in (tmp_path / 'checkpoints').glob('*/meta/metadata'):
    record = json.loads(meta.read_text())
    for key in ('model.conditioning', 'train.ac_weight', 'train.augment'):
      del record['fingerprint'][key]
    meta.write_text(json.dumps(record))
  c.train.num_steps = 4
  assert gan.run(c, tmp_path, show_progress=False)['resumed_from_step'] == 2
  c.model.conditioning = 'projection'   # but a conditional config is another model
  with pytest.raises(ConfigError, match="model.conditioning: checkpoint 'none' != config "
                                        "'projection'"):
    gan.run(c, tmp_path, show_progress=False)
