"""Evaluation of a trained generator, as the config's ``eval.kind`` asks.

  modes   2D mixtures: PacGAN mode coverage / high-quality fraction / reverse KL
  mnist   Parzen log-likelihood (Goodfellow et al.'s protocol) and the Fréchet distance
          in the features of the project's MNIST classifier
  fid     FID and KID with Inception-v3 (pytorch-fid weights, see jaxstyle.metrics.inception)
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np

from jaxstyle import data
from jaxstyle.errors import ConfigError
from jaxstyle.metrics import frechet, modes, parzen


def generate(trainer, state, n: int, seed: int, batch: int = 1000) -> np.ndarray:
  """n samples from the generator (EMA weights when the run keeps them)."""
  sample = trainer.sample_jit
  key = jax.random.key(seed)
  out = []
  for i in range(0, n, batch):
    z = trainer.models.sample_noise(jax.random.fold_in(key, i), (min(batch, n - i),))
    out.append(np.asarray(sample(state, z)))
  return np.concatenate(out)


def to_unit(x, data_range):
  lo, hi = data_range
  return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def evaluate(config, trainer, state, source, transform) -> dict:
  e = config.eval
  start = time.time()
  seed = int(config.seed) + 1000
  if e.kind == 'modes':
    centers, std = data.mixture_centers(config.data.name)
    x = generate(trainer, state, int(e.num_samples), seed)
    result = modes.mode_metrics(x, centers, std)
  elif e.kind == 'mnist':
    result = evaluate_mnist(config, trainer, state, seed)
  elif e.kind == 'fid':
    from jaxstyle.metrics import inception
    result = inception.evaluate_generator(config, trainer, state, source, transform, seed)
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
  from jaxstyle.metrics import classifier
  e = config.eval
  path = config.data.path
  samples = to_unit(generate(trainer, state, int(e.num_samples), seed), trainer.models.data_range)
  valid, _ = mnist_arrays(path, e.validation_subset)
  test, test_labels = mnist_arrays(path, e.test_subset)
  result = {'parzen': parzen.evaluate(samples.reshape(len(samples), -1),
                                      valid[:1000].reshape(-1, 784), test.reshape(-1, 784))}
  train_x, train_y = mnist_arrays(path, e.classifier_subset)
  params = classifier.cached(train_x, train_y, seed=0)
  feats_gen = classifier.predict(params, samples, features=True)
  feats_test = classifier.predict(params, test, features=True)
  counts = np.bincount(classifier.predict(params, samples).argmax(1), minlength=10)
  result['classifier'] = {
      'frechet_distance': frechet.fid_from_features(feats_gen, feats_test),
      'test_accuracy': classifier.accuracy(params, test, test_labels),
      'train_subset': e.classifier_subset, 'num_generated': len(samples),
      'num_real': len(test), 'digit_histogram': counts.tolist()}
  result['parzen_protocol'] = (f'sigma from logspace(-1,0,10) on the first 1000 images of '
                               f'{e.validation_subset}, test on {e.test_subset} of the MNIST '
                               f'test set; {len(samples)} generated samples')
  return result
