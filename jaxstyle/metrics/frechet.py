"""Fréchet distance and kernel inception distance between two feature sets.

FID (Heusel et al. 2017): ||mu1 - mu2||^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)). The trace of
the matrix square root is computed as the sum of square roots of the eigenvalues of
the symmetric PSD matrix C1^(1/2) C2 C1^(1/2) (same eigenvalues as C1 C2), in float64.

KID (Binkowski et al. 2018): the unbiased MMD^2 with kernel k(x, y) = (x.y / d + 1)^3,
averaged over ``num_subsets`` random subsets of ``subset_size`` (torch-fidelity /
clean-fid defaults: 100 x 1000), reported as mean and standard deviation.
"""

from __future__ import annotations

import numpy as np


def statistics(features) -> tuple[np.ndarray, np.ndarray]:
  """Mean (D,) and covariance (D, D), float64, of features (N, D)."""
  f = np.asarray(features, np.float64)
  return f.mean(0), np.cov(f, rowvar=False)


def _psd_sqrt(c):
  w, v = np.linalg.eigh((c + c.T) / 2)
  return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, c1, mu2, c2) -> float:
  """Fréchet distance between Gaussians (mu1, c1) and (mu2, c2); see the module docstring."""
  s1 = _psd_sqrt(np.asarray(c1, np.float64))
  m = s1 @ np.asarray(c2, np.float64) @ s1
  tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
  diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
  return float(diff @ diff + np.trace(c1) + np.trace(c2) - 2.0 * tr_sqrt)


def fid_from_features(f1, f2) -> float:
  """Fréchet distance between the Gaussians fitted to features f1 (N1, D) and f2 (N2, D)
  (FID when they are Inception pool3 features).
  """
  return frechet_distance(*statistics(f1), *statistics(f2))


def _mmd2_unbiased(x, y):
  d = x.shape[1]
  kxx = (x @ x.T / d + 1.0) ** 3
  kyy = (y @ y.T / d + 1.0) ** 3
  kxy = (x @ y.T / d + 1.0) ** 3
  m, n = len(x), len(y)
  return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
          - 2.0 * kxy.mean())


def kid_from_features(f1, f2, num_subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
  """KID of features f1 (N1, D) against f2 (N2, D): (mean, std) of the unbiased MMD^2
  over ``num_subsets`` random subsets of ``min(subset_size, N1, N2)``, seeded by ``seed``.
  """
  f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
  size = min(subset_size, len(f1), len(f2))
  rng = np.random.default_rng(seed)
  values = [_mmd2_unbiased(f1[rng.choice(len(f1), size, replace=False)],
                           f2[rng.choice(len(f2), size, replace=False)])
            for _ in range(num_subsets)]
  return float(np.mean(values)), float(np.std(values))
