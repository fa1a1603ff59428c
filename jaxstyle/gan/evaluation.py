"""Evaluation of a trained generator, as the config's ``eval.kind`` asks.

The estimators are in ``jaxstyle.metrics``; this module generates the samples, picks the
reference data and records the protocol next to the numbers.

  modes   2D mixtures: PacGAN mode coverage / high-quality fraction / reverse KL; for a
          conditional model also the per-class mode accuracy
  mnist   Parzen log-likelihood (Goodfellow et al.'s protocol), and in the features of the
          project's MNIST classifier the Fréchet distance, precision/recall and
          density/coverage; for a conditional model the classifier's accuracy on the
          samples of each class and the intra-class Fréchet distance
  fid     FID and KID with Inception-v3 (pytorch-fid weights, see jaxstyle.metrics.inception),
          precision/recall and density/coverage in its features, and the Inception Score;
          generated and real images are quantised to uint8 first, as pytorch-fid reads
          image files
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import ml_collections
import numpy as np

from jaxstyle import data
from jaxstyle.errors import ConfigError
from jaxstyle.metrics import conditional, frechet, modes, parzen, prdc
from jaxstyle.runtime import config as config_lib
from jaxstyle.runtime import determinism
from jaxstyle.runtime.rundir import write_json


def _or_skipped(metric, *args, **kwargs) -> dict:
  """``metric(*args, **kwargs)``, or ``{'skipped': why}`` when the sample counts are too
  small for it (a ConfigError from the estimator): a run whose evaluation worked before
  these metrics existed still finishes, and says what was not computed."""
  try:
    return metric(*args, **kwargs)
  except ConfigError as e:
    return {'skipped': str(e)}


def eval_labels(models, n: int):
  """The labels a conditional generator is evaluated at: balanced, ``arange(n) % K``
  (None for an unconditional one)."""
  return (np.arange(n) % models.num_classes).astype(np.int32) if models.conditional else None


def generate(trainer, state, n: int, seed: int, batch: int = 1000, labels=None,
             use_ema: bool = True) -> np.ndarray:
  """n samples from the generator (EMA weights when the run keeps them and ``use_ema``);
  a conditional generator makes sample i of class ``labels[i]`` (default
  ``eval_labels``). The noise of sample i depends only on (seed, i // batch, i % batch)."""
  sample = trainer.sample_jit
  key = jax.random.key(seed)
  if labels is None:
    labels = eval_labels(trainer.models, n)
  out = []
  for i in range(0, n, batch):
    z = trainer.models.sample_noise(jax.random.fold_in(key, i), (min(batch, n - i),))
    y = None if labels is None else jax.numpy.asarray(labels[i:i + batch])
    out.append(np.asarray(sample(state, z, use_ema=use_ema, y=y)))
  return np.concatenate(out)


def to_unit(x, data_range):
  """Samples in the model's ``data_range`` (lo, hi), e.g. (-1, 1), -> [0, 1], clipped."""
  lo, hi = data_range
  return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def evaluate(config, trainer, state, source, transform) -> dict:
  """Runs the evaluation ``config.eval.kind`` names ('modes', 'mnist' or 'fid') on the
  generator in host ``state``; ``source``/``transform`` are the training data (the FID
  reference for a folder dataset). Samples use seed ``config.seed + 1000``.

  Returns the metrics dict of that kind plus 'kind' and 'eval_seconds' (wall time).
  Raises ConfigError for any other ``eval.kind``.
  """
  e = config.eval
  start = time.time()
  seed = int(config.seed) + 1000
  if e.kind == 'modes':
    centers, std = data.mixture_centers(config.data.name)
    x = generate(trainer, state, int(e.num_samples), seed)
    result = modes.mode_metrics(x, centers, std)
    if trainer.models.conditional:
      result['conditional'] = modes.class_mode_accuracy(
          x, eval_labels(trainer.models, len(x)), centers, std)
  elif e.kind == 'mnist':
    result = evaluate_mnist(config, trainer, state, seed)
  elif e.kind == 'fid':
    result = evaluate_fid(config, trainer, state, source, transform, seed)
  else:
    raise ConfigError(f"eval.kind must be none, modes, mnist or fid; got {e.kind!r}")
  result['eval_seconds'] = round(time.time() - start, 1)
  result['kind'] = e.kind
  return result


def mnist_arrays(path, spec: str):
  """``'split:start:stop'`` of the MNIST idx files in ``path`` -> images in [0, 1], labels."""
  split, _, rows = str(spec).partition(':')
  src = data.subset(data.mnist_idx(path, split), rows or ':')
  prefix = 't10k' if split == 'test' else 'train'
  names = [f'{prefix}-labels-idx1-ubyte{s}' for s in ('.gz', '')]
  labels_path = next((Path(path) / n for n in names if (Path(path) / n).exists()),
                     Path(path) / names[0])
  labels = data.read_idx(labels_path)[src.start:src.stop].astype(np.int64)
  return src.get(np.arange(len(src))).astype(np.float32) / 255.0, labels


def evaluate_mnist(config, trainer, state, seed) -> dict:
  """Goodfellow et al.'s Parzen-window log-likelihood (sigma chosen on
  ``eval.validation_subset``, scored on ``eval.test_subset``) and the Fréchet distance,
  test accuracy and digit histogram in the features of the project's MNIST classifier
  (trained on ``eval.classifier_subset``, cached). Needs the MNIST idx files in
  ``config.data.path``; returns {'parzen', 'classifier', 'parzen_protocol'}.
  """
  from jaxstyle.metrics import classifier
  e = config.eval
  path = config.data.path
  labels = eval_labels(trainer.models, int(e.num_samples))
  samples = to_unit(generate(trainer, state, int(e.num_samples), seed, labels=labels),
                    trainer.models.data_range)
  valid, _ = mnist_arrays(path, e.validation_subset)
  test, test_labels = mnist_arrays(path, e.test_subset)
  result = {'parzen': parzen.evaluate(samples.reshape(len(samples), -1),
                                      valid[:1000].reshape(-1, 784), test.reshape(-1, 784))}
  train_x, train_y = mnist_arrays(path, e.classifier_subset)
  params = classifier.cached(train_x, train_y, seed=0)
  feats_gen = classifier.predict(params, samples, features=True)
  feats_test = classifier.predict(params, test, features=True)
  predicted = classifier.predict(params, samples).argmax(1)
  counts = np.bincount(predicted, minlength=10)
  result['classifier'] = {
      'frechet_distance': frechet.fid_from_features(feats_gen, feats_test),
      'test_accuracy': classifier.accuracy(params, test, test_labels),
      'train_subset': e.classifier_subset, 'num_generated': len(samples),
      'num_real': len(test), 'digit_histogram': counts.tolist(),
      **_or_skipped(prdc.prdc, feats_test, feats_gen)}
  if labels is not None:
    result['conditional'] = {
        'classifier_accuracy': conditional.per_class_accuracy(predicted, labels, 10),
        'intra_class_frechet': _or_skipped(conditional.intra_class_frechet, feats_gen, labels,
                                           feats_test, test_labels, 10),
        'labels': 'balanced: sample i has class i % 10; real features per true label'}
  result['parzen_protocol'] = (f'sigma from logspace(-1,0,10) on the first 1000 images of '
                               f'{e.validation_subset}, test on {e.test_subset} of the MNIST '
                               f'test set; {len(samples)} generated samples')
  return result


def evaluate_fid(config, trainer, state, source, transform, seed) -> dict:
  """FID and KID of the generator against ``eval.num_real`` images of ``eval.test_subset``,
  precision/recall and density/coverage in the same Inception features, and the Inception
  Score of the generated images (when the weight file has its 1008-way classifier)."""
  from jaxstyle.metrics import inception, inception_score  # Inception only when asked for
  e = config.eval
  variables = inception.load_variables(e.inception_weights or None)
  fake = to_unit(generate(trainer, state, int(e.num_samples), seed), trainer.models.data_range)
  c = config.data
  real_source = data.TFDSSource(c.name, e.test_subset, c.get('tfds_data_dir') or None,
                                download=bool(c.get('download', False))) \
      if c.kind == 'tfds' else source
  n_real = min(int(e.num_real), len(real_source))
  real = (transform(real_source.get(np.arange(n_real))) - trainer.models.data_range[0]) / \
      (trainer.models.data_range[1] - trainer.models.data_range[0])
  with_is = inception.has_classifier(variables)
  if with_is:   # one Inception pass gives the pool features and the 1008-way logits
    f_fake, logits_fake = inception.features_and_logits(variables, fake, resize=e.resize)
  else:
    f_fake = inception.features(variables, fake, resize=e.resize)
  f_real = inception.features(variables, real, resize=e.resize)
  kid_mean, kid_std = frechet.kid_from_features(f_fake, f_real)
  result = {'fid': {'fid': frechet.fid_from_features(f_fake, f_real), 'kid': kid_mean,
                    'kid_std': kid_std, 'num_generated': len(fake), 'num_real': n_real,
                    'reference': f'{c.name}:{e.test_subset}' if c.kind == 'tfds'
                    else source.name,
                    'weights': inception.WEIGHTS.filename,
                    'inputs': 'quantised to uint8 as image files are (x * 255 + 0.5, truncated)',
                    'resize': f'{e.resize} to 299, antialias off',
                    'checkpoint': 'final'},
            'prdc': {**_or_skipped(prdc.prdc, f_real, f_fake),
                     'features': 'Inception pool3 (2048-d)'}}
  if with_is:
    result['inception_score'] = {
        **_or_skipped(inception_score.inception_score, logits_fake,
                      splits=int(e.get('is_splits', 10))),
        'protocol': 'Salimans et al. 2016: softmax of the 1008 logits (no fc bias, as the '
                    'original code), consecutive splits'}
  return result


def evaluate_checkpoint(workdir: str | Path, step: int | None = None, overrides=()) -> dict:
  """Evaluates a GAN run's checkpoint again (another step, or FID once weights exist).

  Reads the run's config.json, applies ``overrides`` (``[(key, value)]``; only ``eval.*``
  keys may change), restores checkpoint ``step`` (default: the latest) and writes
  ``eval_step_N.json`` beside it. Returns the result with ``step`` added.
  """
  from jaxstyle.gan import restore, task  # the task builds the trainer the checkpoint was made with
  workdir = Path(workdir)
  saved, _ = restore.read_run(workdir, 'evaluate')
  for key, _ in overrides:
    if not key.startswith('eval.'):
      raise ConfigError(f'--config.{key}: only eval.* keys can be changed when evaluating')
  run_config = ml_collections.ConfigDict(saved)
  config_lib.apply_overrides(run_config, overrides)
  determinism.apply_config(run_config)   # as the run was made, before JAX starts
  source, shape, transform, trainer = task.build(run_config)
  state, step = restore.restore(workdir, saved, trainer, int(run_config.seed), shape, step)
  result = evaluate(run_config, trainer, state, source, transform)
  result['step'] = step
  if isinstance(result.get('fid'), dict):
    result['fid']['checkpoint'] = f'step {step}'
  write_json(workdir / f'eval_step_{step}.json', result)
  return result
