"""Inception Score against a loop transcription of Salimans et al.'s formula and on
predictions whose score is known by hand."""

import math

import numpy as np
import pytest

from jaxstyle.errors import ConfigError
from jaxstyle.metrics.inception_score import inception_score


def loop_inception_score(logits, splits):
  """exp(mean_x KL(p(y|x) || p(y))) per split of consecutive samples, with plain loops."""
  probs = []
  for row in logits:
    top = max(row)
    e = [math.exp(v - top) for v in row]
    probs.append([v / sum(e) for v in e])
  sizes = [len(probs) // splits + (s < len(probs) % splits) for s in range(splits)]
  scores, start = [], 0
  for size in sizes:
    part = probs[start:start + size]
    start += size
    marginal = [sum(p[c] for p in part) / size for c in range(len(part[0]))]
    kl = [sum(p[c] * math.log(p[c] / marginal[c]) for c in range(len(p)) if p[c] > 0)
          for p in part]
    scores.append(math.exp(sum(kl) / size))
  mean = sum(scores) / splits
  return mean, math.sqrt(sum((s - mean) ** 2 for s in scores) / splits)


@pytest.mark.parametrize('n,splits', [(30, 3), (31, 4), (20, 1)])
def test_inception_score_equals_a_loop_transcription(n, splits):
  logits = np.random.default_rng(n).normal(0, 2, (n, 7))
  mean, std = loop_inception_score(logits.tolist(), splits)
  got = inception_score(logits, splits=splits)
  assert got == {'mean': pytest.approx(mean, rel=1e-12), 'std': pytest.approx(std, abs=1e-12),
                 'splits': splits, 'num_samples': n}
  assert type(got['mean']) is float and type(got['std']) is float
  # The same probabilities given as such.
  p = np.exp(logits - logits.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  probs = inception_score(p, splits=splits, from_logits=False)
  assert probs['mean'] == pytest.approx(mean, rel=1e-12)


def test_uniform_predictions_score_one():
  got = inception_score(np.zeros((40, 1008)))  # equal logits: p(y|x) = p(y) = 1/1008
  assert got['mean'] == pytest.approx(1.0, abs=1e-12) and got['std'] == pytest.approx(0, abs=1e-12)
  got = inception_score(np.full((40, 10), 0.1), splits=4, from_logits=False)
  assert got['mean'] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize('k', [1, 2, 7, 10])
def test_k_equally_frequent_certain_classes_score_k(k):
  # Each split holds every class equally often: p(y) uniform over k, KL = log k for each x.
  labels = np.tile(np.arange(k), 50)                 # 50 k samples, 10 splits of 5 k
  one_hot = np.eye(1008)[labels]
  got = inception_score(one_hot, from_logits=False)
  assert got['mean'] == pytest.approx(k, rel=1e-12) and got['std'] == pytest.approx(0, abs=1e-9)
  # As logits: 1000 above the rest, so softmax underflows to an exact one-hot in float64.
  assert inception_score(1000.0 * one_hot)['mean'] == pytest.approx(k, rel=1e-12)


def test_split_protocol_by_hand():
  a, b = np.eye(2)
  # 4 samples, 2 splits [a, a] [a, b]: scores 1 and 2 -> mean 1.5, population std 0.5.
  got = inception_score(np.stack([a, a, a, b]), splits=2, from_logits=False)
  assert (got['mean'], got['std']) == (pytest.approx(1.5), pytest.approx(0.5))
  # 5 samples in 2 splits: np.array_split gives [a, a, b] and [b, b]. The first has
  # p(y) = (2/3, 1/3), KL(a) = log 3/2, KL(b) = log 3, so IS = (1.5^2 * 3)^(1/3) = 6.75^(1/3);
  # the second scores 1.
  got = inception_score(np.stack([a, a, b, b, b]), splits=2, from_logits=False)
  first = 6.75 ** (1 / 3)
  assert got['mean'] == pytest.approx((first + 1) / 2, rel=1e-12)
  assert got['std'] == pytest.approx((first - 1) / 2, rel=1e-12)
  assert got['num_samples'] == 5 and got['splits'] == 2


@pytest.mark.parametrize('x,kwargs,match', [
    (np.zeros(10), {}, r'must be a 2-D array \(num_samples, num_classes\), got shape \(10,\)'),
    (np.zeros((9, 5)), {}, '9 samples cannot make 10 splits'),
    (np.zeros((9, 5)), {'splits': 0}, 'splits must be a positive integer'),
    (np.full((10, 5), np.inf), {}, r'contain NaN or Inf \(10 rows\)'),
    (np.full((10, 5), 0.5), {'from_logits': False}, 'must be a probability vector'),
    (np.full((10, 2), [-0.5, 1.5]), {'from_logits': False}, 'must be a probability vector'),
])
def test_bad_inputs_are_config_errors(x, kwargs, match):
  with pytest.raises(ConfigError, match=match):
    inception_score(x, **kwargs)
