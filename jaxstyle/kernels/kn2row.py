"""kn2row: a stride-1 'VALID' convolution as one matmul to every tap's output followed by
a sum of shifted slices -- fast on XLA:CPU where few output channels make its direct
convolution slow (the feed-forward networks' 9x9 conv to RGB, their upsampling convs).
Tested against ``lax.conv_general_dilated``.
"""

from __future__ import annotations


def conv_kn2row(x_BHWC, w_HWIO):
  """'VALID' stride-1 convolution as one matmul to every tap's output, then a sum of
  shifted slices: for few output channels (k^2 C_out small), e.g. the 9x9 conv to RGB,
  for which XLA:CPU's direct convolution is slow (bench/bench_feedforward.py measures it).

  Args:
    x_BHWC: input already padded by the caller (no padding is added here).
    w_HWIO: square k x k kernel.

  Returns:
    (B, H - k + 1, W - k + 1, C_out), the same values as ``lax.conv_general_dilated``
    with 'VALID' padding.
  """
  k, _, c_in, c_out = w_HWIO.shape
  b, hp, wp, _ = x_BHWC.shape
  h, w = hp - k + 1, wp - k + 1
  y = (x_BHWC @ w_HWIO.transpose(2, 0, 1, 3).reshape(c_in, k * k * c_out))
  y = y.reshape(b, hp, wp, k, k, c_out)
  out = None
  for i in range(k):
    for j in range(k):
      t = y[:, i:i + h, j:j + w, i, j, :]
      out = t if out is None else out + t
  return out


def suits(kernel: int, stride: int, c_out: int) -> bool:
  """Whether the 'kn2row' formulation (``kernels.select.feedforward_conv``) runs a layer as
  kn2row: stride 1 and few output channels for the kernel size, k^2 C_out <= 576 (the
  9x9 32->3 conv and the upsampling convs 3x3 64->32 and 128->64 of ``TransformNet``),
  where XLA:CPU's direct convolution is slow (bench/bench_feedforward.py measures it).
  Other layers keep XLA's convolution. (An im2col form for the 9x9 conv from RGB was
  slower than XLA's: 81 three-channel slices make a poor memory layout.)

  For inference only: autodiff of kn2row's shifted slices materialises one padded copy
  of the k*k-tap buffer per tap (81 for a 9x9 kernel), so training keeps XLA's kernels.
  """
  return stride == 1 and kernel > 1 and kernel * kernel * c_out <= 576
