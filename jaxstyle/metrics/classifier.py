"""A small MNIST classifier whose penultimate features give a CPU-cheap Fréchet distance.

Inception-v3 features (FID) need weights that cannot be downloaded everywhere, and
Inception was never meant for 28x28 digits. This LeNet-style network (conv 5x5 32,
pool, conv 5x5 64, pool, dense 128, dense 10) is trained by the project itself,
deterministically from a seed, and cached; "classifier FD" is the Fréchet distance of its
128-d features. Numbers are comparable only between runs that use the same classifier
(same training images, seed and epochs), never with published FIDs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxstyle.io import download, fileio

VERSION = 1


class LeNet(nn.Module):
  """The MNIST classifier: (B, 28, 28, 1) in [0, 1] -> 10 logits, or with ``features=True``
  the 128-d penultimate ReLU features used for the Fréchet distance.
  """
  @nn.compact
  def __call__(self, x, features: bool = False):
    x = nn.relu(nn.Conv(32, (5, 5))(x))
    x = nn.max_pool(x, (2, 2), (2, 2))
    x = nn.relu(nn.Conv(64, (5, 5))(x))
    x = nn.max_pool(x, (2, 2), (2, 2))
    h = nn.relu(nn.Dense(128)(x.reshape(x.shape[0], -1)))
    return h if features else nn.Dense(10)(h)


def train(images01, labels, seed: int = 0, epochs: int = 4, batch: int = 100,
          lr: float = 1e-3):
  """Trains on images in [0, 1] (N, 28, 28, 1); deterministic for a given seed."""
  model = LeNet()
  params = model.init(jax.random.key(seed), jnp.zeros((1, 28, 28, 1)))['params']
  tx = optax.adam(lr)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt, x, y):
    def loss_fn(p):
      logits = model.apply({'params': p}, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    loss, g = jax.value_and_grad(loss_fn)(params)
    updates, opt = tx.update(g, opt, params)
    return optax.apply_updates(params, updates), opt, loss

  rng = np.random.default_rng(seed)
  n = len(images01) // batch * batch
  for _ in range(epochs):
    order = rng.permutation(len(images01))[:n].reshape(-1, batch)
    for idx in order:
      params, opt, _ = step(params, opt, images01[idx], labels[idx])
  return params


def _apply(params, x, features):
  return LeNet().apply({'params': params}, x, features=features)


_apply_jit = jax.jit(_apply, static_argnames='features')


def predict(params, images01, features: bool = False, batch: int = 500) -> np.ndarray:
  """LeNet outputs for images in [0, 1] (N, 28, 28, 1), in batches of ``batch``: logits
  (N, 10), or the (N, 128) features with ``features=True``; a numpy array.
  """
  out = [np.asarray(_apply_jit(params, jnp.asarray(images01[i:i + batch]), features))
         for i in range(0, len(images01), batch)]
  return np.concatenate(out)


def accuracy(params, images01, labels) -> float:
  """Fraction of ``images01`` whose arg-max logit equals ``labels`` (integer digits)."""
  return float((predict(params, images01).argmax(1) == labels).mean())


def cached(images01, labels, seed: int = 0, epochs: int = 4):
  """Trains once per (data, seed, epochs, version); later calls load the cached weights."""
  h = hashlib.sha256(np.ascontiguousarray(images01, np.float32).tobytes())
  h.update(np.ascontiguousarray(labels, np.int64).tobytes())
  h.update(f'{seed}-{epochs}-{VERSION}'.encode())
  path = Path(download.cache_dir()) / f'mnist_lenet_{h.hexdigest()[:16]}.msgpack'
  template = LeNet().init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))['params']
  if path.exists():
    try:
      return flax.serialization.from_bytes(template, path.read_bytes())
    except (ValueError, KeyError, TypeError):
      path.unlink()  # a damaged cache entry is retrained, never trusted
  params = train(images01, labels, seed, epochs)
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    fileio.atomic_write(path, lambda f: f.write(flax.serialization.to_bytes(params)))
  except OSError:
    pass  # caching is an optimisation; an unwritable cache only costs a retrain
  return params
