"""Per-class accuracy and intra-class Fréchet distance against direct computations and
cases known by hand."""

import numpy as np
import pytest
from scipy import linalg

from jaxstyle.errors import ConfigError
from jaxstyle.metrics import conditional


def test_per_class_accuracy_by_hand():
  predicted = np.array([0, 1, 1, 2, 2, 0])
  target = np.array([0, 1, 2, 2, 2, 1])
  got = conditional.per_class_accuracy(predicted, target, num_classes=4)
  # class 0: 1/1, class 1: 1 of 2, class 2: 2 of 3, class 3: no samples; overall 4/6.
  assert got == {'accuracy': pytest.approx(4 / 6), 'per_class': [1.0, 0.5, pytest.approx(2 / 3),
                                                                  None],
                 'counts': [1, 2, 3, 0], 'num_classes': 4, 'num_samples': 6}


def test_per_class_accuracy_equals_a_loop():
  rng = np.random.default_rng(0)
  target = rng.integers(0, 10, 500)
  predicted = np.where(rng.uniform(size=500) < 0.7, target, rng.integers(0, 10, 500))
  got = conditional.per_class_accuracy(predicted, target, 10)
  assert got['accuracy'] == pytest.approx(
      sum(int(p == t) for p, t in zip(predicted, target)) / 500, abs=1e-15)
  for c in range(10):
    pairs = [(p, t) for p, t in zip(predicted, target) if t == c]
    assert got['per_class'][c] == pytest.approx(sum(p == t for p, t in pairs) / len(pairs))


def fid_reference(a, b):
  mu1, mu2 = a.mean(0), b.mean(0)
  c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2)
               - 2 * np.trace(linalg.sqrtm(c1 @ c2).real))


def test_intra_class_frechet_per_class_and_skipped_classes():
  rng = np.random.default_rng(1)
  real = rng.normal(size=(90, 4))
  real_labels = np.repeat([0, 1, 2], 30)
  # Class 0: the real features shifted by v, so the distance is |v|^2 exactly (same
  # covariance: Tr(C + C - 2 (C C)^1/2) = 0). Class 1: other draws (scipy reference).
  # Class 2: one generated sample only, below min_per_class. Class 3: no samples at all.
  shift = np.array([1.0, -2.0, 0.5, 0.0])
  other = rng.normal(0.3, 1.2, size=(25, 4))
  fake = np.concatenate([real[:30] + shift, other, real[60:61]])
  fake_labels = np.array([0] * 30 + [1] * 25 + [2])
  got = conditional.intra_class_frechet(fake, fake_labels, real, real_labels, num_classes=4)
  assert got['per_class'][0] == pytest.approx(shift @ shift, rel=1e-9)
  assert got['per_class'][1] == pytest.approx(fid_reference(other, real[30:60]), rel=1e-6)
  assert got['per_class'][2:] == [None, None] and got['skipped'] == [2, 3]
  assert got['mean'] == pytest.approx((got['per_class'][0] + got['per_class'][1]) / 2)
  assert got['num_fake'] == [30, 25, 1, 0] and got['num_real'] == [30, 30, 30, 0]
  assert got['num_classes'] == 4
  # Generated features equal to the real ones per class: 0 for each.
  same = conditional.intra_class_frechet(real, real_labels, real, real_labels, 3)
  assert same['mean'] == pytest.approx(0, abs=1e-9) and same['skipped'] == []


@pytest.mark.parametrize('call,match', [
    (lambda: conditional.per_class_accuracy([0, 1], [0, 1, 1], 2), '2 predicted labels for 3'),
    (lambda: conditional.per_class_accuracy([0, 2], [0, 1], 2),
     r'predicted labels must lie in \[0, 2\), got values 0..2'),
    (lambda: conditional.per_class_accuracy([0, -1], [0, 1], 2), r'lie in \[0, 2\)'),
    (lambda: conditional.per_class_accuracy(np.zeros((2, 3)), [0, 1], 3),
     'must be a 1-D array of class indices'),
    (lambda: conditional.per_class_accuracy([0.0, 1.0], [0, 1], 2), 'must be integers'),
    (lambda: conditional.per_class_accuracy([], [], 2), 'no samples'),
    (lambda: conditional.per_class_accuracy([0], [0], 0), 'num_classes must be a positive'),
    (lambda: conditional.intra_class_frechet(np.zeros((4, 2)), [0, 0, 0, 1], np.zeros((4, 2)),
                                             [0, 1, 1, 1], 2),
     'no class has 2 or more samples in both sets'),
    (lambda: conditional.intra_class_frechet(np.zeros((4, 2)), [0, 0, 0], np.zeros((4, 2)),
                                             [0, 0, 0, 0], 1), 'fake features have 4 rows but 3 labels'),
    (lambda: conditional.intra_class_frechet(np.zeros((4, 2)), [0] * 4, np.zeros((4, 3)),
                                             [0] * 4, 1), 'fake features are 2-d but real'),
    (lambda: conditional.intra_class_frechet(np.zeros((4, 2)), [0] * 4, np.zeros((4, 2)),
                                             [0] * 4, 1, min_per_class=1), 'min_per_class'),
])
def test_bad_inputs_are_config_errors(call, match):
  with pytest.raises(ConfigError, match=match):
    call()
