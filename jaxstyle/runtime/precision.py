"""The precision policy of a run, set by its config's ``precision`` key.

  'float32'   the default: computation, parameters and losses in float32. Where accuracy
              matters the matmuls ask for ``lax.Precision.HIGHEST`` explicitly, because a
              TPU computes float32 matmuls as one bfloat16 pass by default (recent GPUs as
              TF32): the Gram matrices (``perceptual.losses``), the FID Inception network
              (``metrics.inception``), Parzen distances (``metrics.parzen``), the Winograd
              products (``kernels.conv3x3``) and the L-BFGS line search's dot products.
  'bfloat16'  mixed precision for trained networks (GAN, feed-forward): activations,
              matmuls and convolutions in bfloat16 (Flax ``dtype=``); parameters,
              optimiser state, BatchNorm statistics, EMA weights, logits, losses and
              metrics in float32 (``param_dtype``; outputs cast back with ``float32``).
              Gatys optimisation refuses it (``gatys.task``): its L-BFGS line search
              compares losses that bfloat16 features would round to 3 significant digits.

A checkpoint holds float32 parameters either way, so a model trained in bfloat16 is
applied, evaluated and stylised in float32.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from jaxstyle.errors import ConfigError

PRECISIONS = ('float32', 'bfloat16')
DEFAULT = 'float32'


@dataclasses.dataclass(frozen=True)
class Policy:
  """``compute_dtype`` for activations and matmuls, ``param_dtype`` for what is stored
  and optimised (always float32 here)."""
  name: str
  compute_dtype: Any
  param_dtype: Any = jnp.float32

  @property
  def mixed(self) -> bool:
    """Whether computation runs in a narrower dtype than the parameters."""
    return jnp.dtype(self.compute_dtype) != jnp.dtype(self.param_dtype)

  def record(self) -> dict:
    """The policy as run_info.json records it."""
    return {'precision': self.name, 'compute_dtype': jnp.dtype(self.compute_dtype).name,
            'param_dtype': jnp.dtype(self.param_dtype).name}


def policy(name: str = DEFAULT, allowed: tuple[str, ...] = PRECISIONS, why: str = '') -> Policy:
  """The Policy named ``name``; ConfigError naming the ``allowed`` values otherwise
  (``why`` says why a task allows fewer than all)."""
  if name not in allowed:
    raise ConfigError(f'precision must be {" or ".join(allowed)}, got {name!r}'
                      f'{"; " + why if why else ""}')
  return Policy(name, jnp.bfloat16 if name == 'bfloat16' else jnp.float32)


def from_config(config, allowed: tuple[str, ...] = PRECISIONS, why: str = '') -> Policy:
  """The Policy of a config's ``precision`` key (float32 for a config saved before the
  key existed)."""
  return policy(str(config.get('precision', DEFAULT)), allowed, why)


def float32(tree):
  """Every floating-point leaf of ``tree`` as float32 (logits before a loss, outputs
  leaving a bfloat16 network); other leaves unchanged."""
  return jax.tree.map(
      lambda x: x.astype(jnp.float32) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)
