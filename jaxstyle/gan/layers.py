"""DCGAN's two convolution layers (Flax modules) over ``jaxstyle.kernels.strided_conv``,
and the class-conditioning layers every conditional network shares.

Both layers keep their kernel in one layout, (4, 4, in, out), so parameters, init and
checkpoints do not depend on the formulation chosen by ``impl`` ('auto': the backend's,
``kernels.select``; 'xla'; 'matmul'). Parameters are float32; ``dtype`` is the dtype
they compute in (bfloat16 for mixed precision).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxstyle.kernels import strided_conv


class _Conv4x4(nn.Module):
  """Kernel (4, 4, in, features) [+ bias] applied by ``_op``."""
  features: int
  use_bias: bool = True
  impl: str = 'auto'
  kernel_init: object = nn.initializers.normal(0.02)
  dtype: Any = jnp.float32
  _op = None

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', self.kernel_init, (4, 4, x.shape[-1], self.features))
    y = type(self)._op(x.astype(self.dtype), kernel.astype(self.dtype), self.impl)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,)).astype(self.dtype)
    return y


class Conv4x4Stride2(_Conv4x4):
  """Conv 4x4, stride 2, padding 1 (PyTorch ``Conv2d(4, 2, 1)``): (B, H, W, C_in)
  -> (B, H/2, W/2, features), H and W even.
  """
  _op = staticmethod(strided_conv.conv4x4_stride2)


class ConvTranspose4x4(_Conv4x4):
  """Transposed conv 4x4, stride 2, padding 1 (PyTorch
  ``ConvTranspose2d(4, 2, 1)``): (B, H, W, C_in) -> (B, 2H, 2W, features).
  """
  _op = staticmethod(strided_conv.conv_transpose4x4)


# --------------------------------------------------------------------------- conditioning
#
# Shared by every class-conditional network (jaxstyle.gan.models, jaxstyle.gan.resnet).
# ``y`` is a (B,) int array of class indices in [0, num_classes).


class ConditionalBatchNorm(nn.Module):
  """BatchNorm whose affine parameters depend on the class (de Vries et al. 2017;
  Miyato & Koyama 2018): normalise without an affine, then ``gamma_y * x + beta_y``
  with per-class ``gamma`` (embedding initialised at ``scale_init``, 1 by default) and
  ``beta`` (initialised at 0). Statistics are the plain BatchNorm's (shared by all
  classes, averaged over ``axis_name`` when set).
  """
  num_classes: int
  momentum: float = 0.9
  epsilon: float = 1e-5
  axis_name: str | None = None
  scale_init: Any = nn.initializers.ones
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, y, train: bool):
    h = nn.BatchNorm(use_running_average=not train, momentum=self.momentum,
                     epsilon=self.epsilon, axis_name=self.axis_name if train else None,
                     use_scale=False, use_bias=False, dtype=self.dtype, name='bn')(x)
    c = x.shape[-1]
    gamma = self.param('scale', lambda k, s: self.scale_init(k, s), (self.num_classes, c))
    beta = self.param('bias', nn.initializers.zeros, (self.num_classes, c))
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (c,)
    g = jnp.take(gamma, y, axis=0).reshape(shape).astype(self.dtype)
    b = jnp.take(beta, y, axis=0).reshape(shape).astype(self.dtype)
    return h * g + b


class ClassEmbedding(nn.Module):
  """A (num_classes, features) embedding table, spectrally normalised when asked (the
  projection discriminator's ``V`` in Miyato & Koyama 2018, SNEmbedID in their code).
  Returns the (B, features) rows of ``y``."""
  num_classes: int
  features: int
  spectral_norm: bool = False
  embedding_init: Any = nn.initializers.normal(0.02)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, y, train: bool):
    embed = nn.Embed(self.num_classes, self.features, embedding_init=self.embedding_init,
                     dtype=self.dtype, name='embed')
    if self.spectral_norm:
      return nn.SpectralNorm(embed, name='embed_sn')(y, update_stats=train)
    return embed(y)


CONDITIONINGS = ('none', 'projection', 'acgan')


def conditional_output(module: nn.Module, h, logits, y, conditioning: str, num_classes: int,
                       spectral_norm: bool, train: bool, dtype=jnp.float32,
                       kernel_init=nn.initializers.normal(0.02)):
  """The class-conditional part of a discriminator's output, from its pooled features
  ``h`` (B, F) and unconditional ``logits`` (B,), created inside ``module``'s compact
  ``__call__``:

    'none'        logits
    'projection'  logits + <embed(y), h> (Miyato & Koyama 2018, eq. 3)
    'acgan'       (logits, class_logits): an auxiliary K-way classifier ``h -> K``
                  (Odena et al. 2017), spectrally normalised with the rest of D

  Parameters are named 'class_embed' and 'classifier' in ``module``.
  """
  if conditioning == 'none':
    return logits
  if conditioning == 'projection':
    v = ClassEmbedding(num_classes, h.shape[-1], spectral_norm, dtype=dtype,
                       name='class_embed')(y, train)
    return logits + jnp.sum(v.astype(h.dtype) * h, axis=-1)
  if conditioning == 'acgan':
    dense = nn.Dense(num_classes, kernel_init=kernel_init, dtype=dtype, name='classifier')
    out = nn.SpectralNorm(dense, name='classifier_sn')(h, update_stats=train) \
        if spectral_norm else dense(h)
    return logits, out
  raise ValueError(f'unknown conditioning {conditioning!r}')
