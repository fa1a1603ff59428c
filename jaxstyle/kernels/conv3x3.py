"""3x3 stride-1 'SAME' convolutions with a frozen kernel: Winograd F(2x2, 3x3) and a
custom VJP whose input gradient is itself a forward convolution.

The 'winograd' formulation of ``jaxstyle.perceptual.vgg.VGG`` (``kernels.select`` picks it
on CPU only); ``direct_conv`` is the plain XLA formulation they are tested against (values
and input gradients). The Winograd products run at ``Precision.HIGHEST``: its tile
transforms add and subtract inputs before the matmul, so the single-pass bfloat16 matmul a
TPU uses by default for float32 (TF32 on recent GPUs) would lose more accuracy than it does
in a direct convolution.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# Style transfer differentiates the VGG with respect to its input only, many
# hundreds of times with the same weights, so everything that depends on the
# weights alone is derived once (``derive``) and the input gradient gets its own
# formulation:
#  * The input gradient of a stride-1 'SAME' convolution is a forward convolution
#    of the output gradient with the spatially flipped, in/out-swapped kernel.
#    Written that way (``conv3x3``'s custom VJP) XLA:CPU runs its fast forward
#    kernel instead of the transposed-convolution path, which is slower inside
#    while-loops (optax's line search) and no faster elsewhere (bench/bench_gatys.py
#    measures it).
#  * Layers with many channels and small maps use Winograd F(2x2, 3x3): per
#    2x2 output tile, 16 batched matmuls instead of 36 multiply-adds per
#    output pixel and channel pair (2.25x fewer). Faster than XLA's direct
#    convolution on the deep, wide layers (64x64x256 .. 16x16x512); slower on large
#    maps with few channels, where the tile transforms are memory-bound (see
#    ``_use_winograd``; bench/bench_gatys.py measures it).
_DIMS = ('NHWC', 'HWIO', 'NHWC')
_HIGHEST = jax.lax.Precision.HIGHEST
_WINO_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)
_WINO_G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32)
_WINO_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)


def direct_conv(x, w):
  """Plain XLA 3x3 stride-1 'SAME' convolution (the reference formulation)."""
  return jax.lax.conv_general_dilated(x, w, (1, 1), 'SAME', dimension_numbers=_DIMS)


def _lincomb(coefs, terms):
  """sum_i coefs[i] * terms[i], skipping zero coefficients (coefs are 0, +-1, +-0.5)."""
  out = None
  for c, t in zip(coefs, terms):
    if c == 0:
      continue
    t = t if c == 1 else (-t if c == -1 else c * t)
    out = t if out is None else out + t
  return out


def winograd_kernel(w_HWIO: jax.Array) -> jax.Array:
  """3x3 kernel -> its Winograd F(2x2, 3x3) transform G w G^T, shape (16, I, O)."""
  u = jnp.einsum('pa,abio,qb->pqio', _WINO_G, w_HWIO, _WINO_G, precision=_HIGHEST)
  return u.reshape(16, *w_HWIO.shape[2:])


def _winograd_conv(x_BHWC, u_SIO):
  b, h, w, c = x_BHWC.shape
  th, tw = (h + 1) // 2, (w + 1) // 2  # 2x2 output tiles
  xp = jnp.pad(x_BHWC, ((0, 0), (1, 1 + 2 * th - h), (1, 1 + 2 * tw - w), (0, 0)))
  d = [[xp[:, a:a + 2 * th:2, e:e + 2 * tw:2, :] for e in range(4)] for a in range(4)]
  rows = [[_lincomb(_WINO_BT[p], [d[a][e] for a in range(4)]) for e in range(4)] for p in range(4)]
  v = jnp.stack([_lincomb(_WINO_BT[q], rows[p]) for p in range(4) for q in range(4)])
  v = v.reshape(16, b * th * tw, c)
  m = jax.lax.dot_general(v, u_SIO, (((2,), (1,)), ((0,), (0,))),
                          precision=_HIGHEST)  # (16, tiles, O)
  m = m.reshape(4, 4, b, th, tw, -1)
  cols = [[_lincomb(_WINO_AT[i], [m[p, q] for p in range(4)]) for q in range(4)] for i in range(2)]
  y = jnp.stack([jnp.stack([_lincomb(_WINO_AT[j], cols[i]) for j in range(2)]) for i in range(2)])
  y = y.transpose(2, 3, 0, 4, 1, 5).reshape(b, 2 * th, 2 * tw, -1)
  return y[:, :h, :w, :]


def _use_winograd(h: int, w: int, c_in: int) -> bool:
  # Winograd wins from 256 input channels, and from 128 on maps of at most 64x64:
  # crossover points found on XLA:CPU, the only backend whose default this formulation
  # is (kernels.select); re-check them before making it another's (bench/bench_gatys.py).
  return c_in >= 256 or (c_in >= 128 and h * w <= 64 * 64)


def _apply(x, kernel: dict):
  _, h, w, c = x.shape
  if 'winograd' in kernel and _use_winograd(h, w, c):
    return _winograd_conv(x, kernel['winograd'])
  return direct_conv(x, kernel['hwio'])


def derive_kernel(w_HWIO: jax.Array) -> dict:
  """Forward and input-gradient forms of a frozen 3x3 kernel."""
  w_bwd = jnp.flip(w_HWIO, axis=(0, 1)).swapaxes(2, 3)
  fwd, bwd = {'hwio': w_HWIO}, {'hwio': w_bwd}
  if w_HWIO.shape[2] >= 128:
    fwd['winograd'] = winograd_kernel(w_HWIO)
  if w_bwd.shape[2] >= 128:
    bwd['winograd'] = winograd_kernel(w_bwd)
  return {'fwd': fwd, 'bwd': bwd}


@jax.custom_vjp
def conv3x3(x_BHWC: jax.Array, kernel: dict) -> jax.Array:
  """3x3 'SAME' convolution with a frozen kernel given as ``derive_kernel(w)``.

  The kernel receives a zero cotangent: it is a constant of the optimisation
  (``VGG`` also wraps it in ``stop_gradient``).
  """
  return _apply(x_BHWC, kernel['fwd'])


def _conv3x3_fwd(x, kernel):
  return _apply(x, kernel['fwd']), kernel


def _conv3x3_bwd(kernel, g):
  return _apply(g, kernel['bwd']), jax.tree.map(jnp.zeros_like, kernel)


conv3x3.defvjp(_conv3x3_fwd, _conv3x3_bwd)
