"""Metrics of class-conditional generators: does G(z, y) look like class y?

Per-class accuracy: a classifier's predicted labels for samples generated with labels y
(the AC-GAN / CAS style check); ``accuracy`` is the fraction of all samples whose
prediction is their label, ``per_class[c]`` the same fraction among samples of label c
(None when no sample has label c), so a generator that ignores y scores near chance.

Intra-class Fréchet distance (intra-FID, Miyato & Koyama 2018): for every class c, the
Fréchet distance (``frechet.fid_from_features``) between the features of the generated
samples of class c and those of the real samples of class c; reported per class and as the
mean over the classes with at least ``min_per_class`` samples on both sides (the others are
None and listed under ``skipped``). With Inception pool3 features it is the paper's
intra-FID; like FID it is biased upwards for small sets, so compare numbers only at equal
sample counts per class (``num_fake``, ``num_real``), and far more than 2 per class.
"""

from __future__ import annotations

import numpy as np

from jaxstyle.errors import ConfigError
from jaxstyle.metrics import frechet


def per_class_accuracy(predicted, target, num_classes: int) -> dict:
  """Accuracy of integer labels ``predicted`` (N,) against ``target`` (N,).

  Returns {'accuracy', 'per_class', 'counts', 'num_classes', 'num_samples'}: the overall
  fraction correct, per class c the fraction correct among targets c (None without any),
  and the number of targets of each class.
  """
  num_classes = _num_classes('per_class_accuracy', num_classes)
  predicted = _labels('per_class_accuracy: predicted', predicted, num_classes)
  target = _labels('per_class_accuracy: target', target, num_classes)
  if predicted.shape != target.shape:
    raise ConfigError(f'per_class_accuracy: {len(predicted)} predicted labels for '
                      f'{len(target)} targets; pass one prediction per target')
  if len(target) == 0:
    raise ConfigError('per_class_accuracy: no samples; pass at least one label')
  correct = predicted == target
  counts = np.bincount(target, minlength=num_classes)
  hits = np.bincount(target, weights=correct, minlength=num_classes)
  return {'accuracy': float(correct.mean()),
          'per_class': [float(h / n) if n else None for h, n in zip(hits, counts)],
          'counts': counts.tolist(), 'num_classes': num_classes, 'num_samples': len(target)}


def intra_class_frechet(fake_feats, fake_labels, real_feats, real_labels, num_classes: int,
                        min_per_class: int = 2) -> dict:
  """Fréchet distance per class between generated features (M, D) with labels (M,) and
  real features (N, D) with labels (N,); see the module docstring.

  Returns {'mean', 'per_class', 'skipped', 'num_fake', 'num_real', 'num_classes'}: the mean
  over the classes scored, the distance of each class (None if skipped), the skipped
  classes, and per class the numbers of generated and real samples.
  """
  num_classes = _num_classes('intra_class_frechet', num_classes)
  if (isinstance(min_per_class, bool) or not isinstance(min_per_class, (int, np.integer))
      or min_per_class < 2):
    raise ConfigError(f'intra_class_frechet: min_per_class must be an integer >= 2 (a '
                      f'covariance needs two samples), got {min_per_class!r}')
  fake_labels = _labels('intra_class_frechet: fake', fake_labels, num_classes)
  real_labels = _labels('intra_class_frechet: real', real_labels, num_classes)
  fake = _feats('intra_class_frechet: fake', fake_feats, fake_labels)
  real = _feats('intra_class_frechet: real', real_feats, real_labels)
  if fake.shape[1] != real.shape[1]:
    raise ConfigError(f'intra_class_frechet: fake features are {fake.shape[1]}-d but real '
                      f'features are {real.shape[1]}-d; use one feature extractor for both')
  num_fake = np.bincount(fake_labels, minlength=num_classes)
  num_real = np.bincount(real_labels, minlength=num_classes)
  per_class, skipped = [], []
  for c in range(num_classes):
    if min(num_fake[c], num_real[c]) < min_per_class:
      per_class.append(None)
      skipped.append(c)
    else:
      per_class.append(frechet.fid_from_features(fake[fake_labels == c],
                                                 real[real_labels == c]))
  scored = [d for d in per_class if d is not None]
  if not scored:
    raise ConfigError(f'intra_class_frechet: no class has {min_per_class} or more samples in '
                      f'both sets (generated per class {num_fake.tolist()}, real '
                      f'{num_real.tolist()}); generate more samples per '
                      f'class')
  return {'mean': float(np.mean(scored)), 'per_class': per_class, 'skipped': skipped,
          'num_fake': num_fake.tolist(), 'num_real': num_real.tolist(),
          'num_classes': num_classes}


def _num_classes(fn, num_classes) -> int:
  if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
      or num_classes < 1:
    raise ConfigError(f'{fn}: num_classes must be a positive integer, got {num_classes!r}')
  return int(num_classes)


def _labels(name, labels, num_classes) -> np.ndarray:
  y = np.asarray(labels)
  if y.ndim != 1:
    raise ConfigError(f'{name} labels must be a 1-D array of class indices, got shape '
                      f'{y.shape}; pass argmax(logits, -1) rather than the logits')
  if y.size and not np.issubdtype(y.dtype, np.integer):
    raise ConfigError(f'{name} labels must be integers, got dtype {y.dtype}; pass class '
                      f'indices (argmax of the logits)')
  if y.size and (y.min() < 0 or y.max() >= num_classes):
    raise ConfigError(f'{name} labels must lie in [0, {num_classes}), got values '
                      f'{int(y.min())}..{int(y.max())}; check num_classes')
  return y.astype(np.int64)


def _feats(name, feats, labels) -> np.ndarray:
  x = np.asarray(feats, np.float64)
  if x.ndim != 2:
    raise ConfigError(f'{name} features must be a 2-D array (num_samples, dim), got shape '
                      f'{x.shape}; pass one feature vector per row')
  if len(x) != len(labels):
    raise ConfigError(f'{name} features have {len(x)} rows but {len(labels)} labels; pass '
                      f'one label per row')
  if not np.isfinite(x).all():
    raise ConfigError(f'{name} features contain NaN or Inf; drop or fix those samples')
  return x
