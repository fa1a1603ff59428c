"""DCGAN's 4x4 stride-2 convolution and transposed convolution in two formulations.

  conv4x4_stride2       y[o] = sum_k x[2o - 1 + k] K[k]            (PyTorch Conv2d(4, 2, 1))
  conv_transpose4x4     y[2i - 1 + k] += x[i] K[k]                 (PyTorch ConvTranspose2d(4, 2, 1))

``impl='xla'`` hands them to ``lax.conv_general_dilated``. ``impl='matmul'`` writes the
strided conv as patch extraction (space-to-depth and contiguous slices) plus one matrix
product, and the transposed conv as that operation's adjoint; every gradient is then a
matrix product, a patch extraction or an overlap-add. On XLA:CPU the weight gradient of a
small transposed convolution is far slower than the same arithmetic as a matmul
(bench/bench_dcgan.py measures both), which is why the formulation is a choice.
``'auto'`` takes the backend's default from ``kernels.select``: on CPU XLA's strided conv
and the matmul transposed conv, elsewhere XLA's convolutions for both.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxstyle.kernels import select

IMPLS = select.choices('dcgan_conv')
_DN = ('NHWC', 'HWIO', 'NHWC')


def conv4x4_stride2(x, kernel, impl: str = 'auto'):
  """Conv 4x4, stride 2, padding 1: (B, H, W, Ci) -> (B, H/2, W/2, Co); H, W even."""
  if select.dcgan_convs(impl)[0] == 'xla':
    return lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)), dimension_numbers=_DN)
  b, h, w, ci = x.shape
  ho, wo = h // 2, w // 2
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  # Space-to-depth: block (p, q) holds padded pixels (2p + a, 2q + c), a, c in {0, 1}.
  s2d = xp.reshape(b, ho + 1, 2, wo + 1, 2, ci).transpose(0, 1, 3, 2, 4, 5)
  # Output o reads padded pixels 2o .. 2o + 3 = blocks o and o + 1.
  cols = jnp.concatenate([s2d[:, p:p + ho, q:q + wo] for p in (0, 1) for q in (0, 1)], axis=3)
  # cols index: (p, q, a, c, ci) with kernel tap (ky, kx) = (2p + a, 2q + c).
  k = kernel.reshape(2, 2, 2, 2, ci, -1).transpose(0, 2, 1, 3, 4, 5)
  return cols.reshape(b, ho, wo, 16 * ci) @ k.reshape(16 * ci, -1)


def conv_transpose4x4(x, kernel, impl: str = 'auto'):
  """Transposed conv 4x4, stride 2, padding 1: (B, H, W, Ci) -> (B, 2H, 2W, Co)."""
  if select.dcgan_convs(impl)[1] == 'xla':
    return lax.conv_general_dilated(x, kernel[::-1, ::-1], (1, 1), ((2, 2), (2, 2)),
                                    lhs_dilation=(2, 2), dimension_numbers=_DN)
  # A transposed convolution is the adjoint of the strided convolution with in/out
  # swapped: y = A^T x with A = conv4x4_stride2(., K^T). Its forward pass is then one
  # matmul (B H W, Ci) x (Ci, 16 Co) plus an overlap-add, and its gradients are the
  # patch extraction of the incoming gradient and two matmuls (the im2col/col2im
  # formulation of Caffe's deconvolution).
  b, h, w, _ = x.shape
  kernel_t = jnp.swapaxes(kernel, 2, 3)
  out = jax.ShapeDtypeStruct((b, 2 * h, 2 * w, kernel.shape[3]), x.dtype)
  return jax.linear_transpose(lambda z: conv4x4_stride2(z, kernel_t, 'matmul'), out)(x)[0]
