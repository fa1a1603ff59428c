"""Mode coverage on 2D Gaussian mixtures, as PacGAN (Lin et al. 2018) measures it.

Each sample goes to its nearest mode in units of that mode's standard deviation; it is
high quality if that distance is below ``threshold`` (3) standard deviations. Then
  modes      number of modes with at least one high-quality sample
  hq         fraction of all samples that are high quality
  reverse_kl KL(p_gen || p_data) of the histogram of high-quality samples over modes
             against the data's (uniform) mode weights, in nats (None when there is
             no high-quality sample)
PacGAN evaluates 2,500 samples.

For a class-conditional generator whose classes are the modes, ``class_mode_accuracy``
is the fraction of samples of class k that are high quality samples of mode k.
"""

from __future__ import annotations

import numpy as np


def mode_metrics(samples, centers, std: float, threshold: float = 3.0) -> dict:
  """PacGAN's mode metrics of 2D ``samples`` (N, 2) against mixture ``centers`` (K, 2)
  with per-mode ``std``. Returns {'modes', 'hq', 'reverse_kl', 'num_modes', 'num_samples',
  'counts'} as defined in the module docstring (counts: high-quality samples per mode).
  """
  samples = np.asarray(samples, np.float64)
  centers = np.asarray(centers, np.float64)
  d = np.sqrt(((samples[:, None, :] - centers[None]) ** 2).sum(-1)) / std
  nearest = d.argmin(1)
  good = d[np.arange(len(samples)), nearest] < threshold
  counts = np.bincount(nearest[good], minlength=len(centers)).astype(np.float64)
  if counts.sum() > 0:
    p = counts / counts.sum()
    nz = p > 0
    reverse_kl = float(np.sum(p[nz] * np.log(p[nz] * len(centers))))
  else:
    reverse_kl = None  # undefined: no high-quality sample at all
  return {'modes': int((counts > 0).sum()), 'hq': float(good.mean()),
          'reverse_kl': reverse_kl, 'num_modes': len(centers), 'num_samples': len(samples),
          'counts': counts.astype(int).tolist()}


def class_mode_accuracy(samples, labels, centers, std: float, threshold: float = 3.0) -> dict:
  """Per-class mode accuracy of a conditional generator on a mixture: sample i, made
  for class ``labels[i]`` (the mode index), counts as correct when it is high quality
  (within ``threshold`` stds of its nearest mode) and that mode is ``labels[i]``.
  Returns {'accuracy' (over all samples), 'per_class' (None for a class without
  samples), 'num_classes'}."""
  samples = np.asarray(samples, np.float64)
  labels = np.asarray(labels)
  centers = np.asarray(centers, np.float64)
  d = np.sqrt(((samples[:, None, :] - centers[None]) ** 2).sum(-1)) / std
  nearest = d.argmin(1)
  correct = (nearest == labels) & (d[np.arange(len(samples)), nearest] < threshold)
  per_class = [float(correct[labels == k].mean()) if np.any(labels == k) else None
               for k in range(len(centers))]
  return {'accuracy': float(correct.mean()), 'per_class': per_class,
          'num_classes': len(centers)}
