"""DCGAN's two convolution layers (Flax modules) over ``jaxstyle.kernels.strided_conv``.

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
