"""Inception Score (Salimans et al. 2016) of class predictions for generated samples.

IS = exp(E_x KL(p(y|x) || p(y))), p(y) the mean of p(y|x) over the samples. Protocol of
the paper's code: the N samples (50,000 there) are cut into ``splits`` (10) consecutive
parts, ``np.array_split`` (equal parts when ``splits`` divides N, as in the paper; otherwise
the first N mod splits parts have one sample more), each part gets its own p(y) and score,
and the result is the mean and the population standard deviation (``np.std``) of the
per-part scores. Predictions are the 2015-12-05 Inception graph's 1008-way softmax
(``inception.logits``, without the fc bias as the original code); the softmax is taken here
in float64 over every output. Terms with p(y|x) = 0 contribute 0 (x log x -> 0).
Uniform predictions give 1; K classes, each predicted with certainty equally often, give K.
"""

from __future__ import annotations

import numpy as np

from jaxstyle.errors import ConfigError


def inception_score(logits_or_probs, splits: int = 10, from_logits: bool = True) -> dict:
  """IS of predictions (N, C): logits, or probabilities with ``from_logits=False``.

  Returns {'mean', 'std', 'splits', 'num_samples'}: the mean and population standard
  deviation of the per-split scores (module docstring), plain floats.
  """
  x = np.asarray(logits_or_probs, np.float64)
  if x.ndim != 2 or x.shape[1] == 0:
    raise ConfigError(f'inception_score: predictions must be a 2-D array (num_samples, '
                      f'num_classes), got shape {x.shape}; pass one row of logits per sample')
  if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or splits < 1:
    raise ConfigError(f'inception_score: splits must be a positive integer, got {splits!r}')
  if len(x) < splits:
    raise ConfigError(f'inception_score: {len(x)} samples cannot make {splits} splits; pass '
                      f'at least {splits} samples or fewer splits')
  if not np.isfinite(x).all():
    raise ConfigError(f'inception_score: the predictions contain NaN or Inf '
                      f'({int((~np.isfinite(x)).any(1).sum())} rows); fix those samples')
  if from_logits:
    log_p = x - x.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    p = np.exp(log_p)
  else:
    sums = x.sum(1)
    if (x < 0).any() or not np.allclose(sums, 1.0, rtol=0, atol=1e-3):
      raise ConfigError(f'inception_score: with from_logits=False every row must be a '
                        f'probability vector (>= 0, sum 1; sums here {sums.min():.4g}..'
                        f'{sums.max():.4g}); pass logits with from_logits=True')
    p = x
    with np.errstate(divide='ignore'):
      log_p = np.log(p)
  scores = []
  for part in np.array_split(np.arange(len(x)), splits):
    p_part, log_p_part = p[part], log_p[part]
    with np.errstate(divide='ignore'):
      log_marginal = np.log(p_part.mean(0))
    # p (log p - log p(y)) where p > 0 (and so p(y) > 0); 0 elsewhere, where the logs
    # may be -inf.
    positive = p_part > 0
    terms = np.zeros_like(p_part)
    terms[positive] = p_part[positive] * (
        log_p_part[positive] - np.broadcast_to(log_marginal, p_part.shape)[positive])
    scores.append(np.exp(terms.sum(1).mean()))
  return {'mean': float(np.mean(scores)), 'std': float(np.std(scores)), 'splits': int(splits),
          'num_samples': len(x)}
