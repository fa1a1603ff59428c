"""Which formulation each hardware-specific operation uses, per backend: the one place.

  operation                        config key        choices          cpu       gpu, tpu, other
  VGG 3x3 convs (Gatys, losses)    vgg_conv_impl     winograd | xla   winograd  xla
  DCGAN 4x4 stride-2 conv          model.conv_impl   matmul | xla     xla       xla
  DCGAN 4x4 transposed conv        model.conv_impl   matmul | xla     matmul    xla
  feed-forward inference convs     model.conv_impl   kn2row | xla     kn2row    xla

Every key also takes 'auto' (the default): the column of the backend that
``jax.default_backend()`` names. The CPU column is what bench/README.md measured on a
2-core x86 CPU: each hand-written formulation there beat XLA:CPU's convolution for that
operation. Nothing was measured on a GPU or TPU, where cuDNN and the TPU compiler pick
their own convolution algorithms, so those backends (and any backend not listed) get XLA's
native convolution until a measurement there says otherwise. A forced choice runs on every
backend; each formulation is tested against ``lax.conv_general_dilated`` (values and
gradients), so a choice changes speed and rounding, never the result.
"""

from __future__ import annotations

import jax

from jaxstyle.errors import ConfigError

AUTO = 'auto'
XLA = 'xla'

# operation -> the formulations it has (XLA's own convolution first).
FORMULATIONS = {
    'vgg_conv': (XLA, 'winograd'),
    'dcgan_conv': (XLA, 'matmul'),
    'dcgan_conv_transpose': (XLA, 'matmul'),
    'feedforward_conv': (XLA, 'kn2row'),
}

# backend -> {operation: formulation}; an operation or backend not listed gets XLA's.
MEASURED = {
    'cpu': {
        # Custom-VJP input gradients + Winograd on the wide layers: 1.15-1.86x PyTorch per
        # Gatys step (bench_gatys.py).
        'vgg_conv': 'winograd',
        # The transposed conv's weight gradient is ~3x faster as a matmul; XLA:CPU's own
        # strided conv is faster than the patch matmul (bench_dcgan.py).
        'dcgan_conv': XLA,
        'dcgan_conv_transpose': 'matmul',
        # kn2row for the convs with few output channels: Johnson's net at 256 px
        # 934 -> 443 ms (bench_feedforward.py).
        'feedforward_conv': 'kn2row',
    },
}

# The config key that overrides each operation's choice (for error messages and docs).
CONFIG_KEYS = {'vgg_conv': 'vgg_conv_impl', 'dcgan_conv': 'model.conv_impl',
               'dcgan_conv_transpose': 'model.conv_impl', 'feedforward_conv': 'model.conv_impl'}

_PLATFORM_ALIASES = {'cuda': 'gpu', 'rocm': 'gpu'}


def platform(backend: str | None = None) -> str:
  """``backend`` (default: ``jax.default_backend()``) as 'cpu', 'gpu', 'tpu' or its own
  name; CUDA and ROCm both count as 'gpu'."""
  name = (backend or jax.default_backend()).lower()
  return _PLATFORM_ALIASES.get(name, name)


def choices(op: str) -> tuple[str, ...]:
  """The values the config key of ``op`` accepts: 'auto' and the op's formulations."""
  return (AUTO,) + FORMULATIONS[op]


def check(op: str, choice: str, key: str | None = None) -> None:
  """Raises ConfigError naming ``key`` (default: the op's config key) and the choices
  unless ``choice`` is one of ``choices(op)``."""
  if choice not in choices(op):
    raise ConfigError(f'{key or CONFIG_KEYS[op]} must be one of {", ".join(choices(op))}, '
                      f'got {choice!r}')


def choose(op: str, choice: str = AUTO, backend: str | None = None) -> str:
  """The formulation of ``op``: ``choice`` itself when forced, else the default of
  ``backend`` (default: ``jax.default_backend()``); XLA's for an unmeasured backend."""
  check(op, choice)
  if choice != AUTO:
    return choice
  return MEASURED.get(platform(backend), {}).get(op, XLA)


def vgg_conv(choice: str = AUTO, backend: str | None = None) -> str:
  """VGG 3x3 convolutions: 'winograd' (``kernels.conv3x3``: custom-VJP input gradients,
  Winograd F(2x2, 3x3) on the wide layers) or 'xla' (``lax.conv_general_dilated`` and
  plain autodiff)."""
  return choose('vgg_conv', choice, backend)


def dcgan_convs(choice: str = AUTO, backend: str | None = None) -> tuple[str, str]:
  """(stride-2 conv, transposed conv) formulations of the DCGAN layers: each 'matmul'
  (``kernels.strided_conv``'s patches + matmul) or 'xla'. 'matmul' and 'xla' force both."""
  check('dcgan_conv', choice)
  return (choose('dcgan_conv', choice, backend), choose('dcgan_conv_transpose', choice, backend))


def feedforward_conv(choice: str = AUTO, backend: str | None = None) -> str:
  """Feed-forward networks' convolutions at inference: 'kn2row' (``kernels.kn2row`` on the
  stride-1 layers with few output channels, XLA's on the others) or 'xla'."""
  return choose('feedforward_conv', choice, backend)


def record(backend: str | None = None, **ops: str) -> dict:
  """What a run's run_info.json records: the platform and the resolved formulation of each
  operation it uses (keyword: operation name, value: the resolved formulation)."""
  return {'backend': platform(backend), **ops}
