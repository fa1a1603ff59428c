"""The per-backend kernel choices: XLA's on GPU/TPU, the measured CPU formulations on CPU,
the config override over both, one-line errors for unknown values."""

import jax
import pytest

from jaxstyle.errors import ConfigError
from jaxstyle.kernels import select


@pytest.mark.parametrize('backend', ['gpu', 'tpu', 'cuda', 'rocm', 'METAL'])
def test_accelerators_and_unknown_backends_get_xla(backend):
  assert select.vgg_conv('auto', backend) == 'xla'
  assert select.dcgan_convs('auto', backend) == ('xla', 'xla')
  assert select.feedforward_conv('auto', backend) == 'xla'


def test_cpu_gets_the_formulations_measured_there():
  # bench/README.md: Winograd + custom VJP for Gatys, XLA's strided conv and the matmul
  # transposed conv for DCGAN, kn2row for feed-forward inference.
  assert select.vgg_conv('auto', 'cpu') == 'winograd'
  assert select.dcgan_convs('auto', 'cpu') == ('xla', 'matmul')
  assert select.feedforward_conv('auto', 'cpu') == 'kn2row'
  # Without a backend, 'auto' is the default backend's choice (this suite runs on CPU).
  assert jax.default_backend() == 'cpu'
  assert select.vgg_conv() == 'winograd' and select.record() == {'backend': 'cpu'}


@pytest.mark.parametrize('backend', ['cpu', 'gpu', 'tpu'])
def test_a_forced_choice_wins_on_every_backend(backend):
  assert select.vgg_conv('xla', backend) == 'xla'
  assert select.vgg_conv('winograd', backend) == 'winograd'
  assert select.dcgan_convs('matmul', backend) == ('matmul', 'matmul')
  assert select.dcgan_convs('xla', backend) == ('xla', 'xla')
  assert select.feedforward_conv('kn2row', backend) == 'kn2row'
  assert select.feedforward_conv('xla', backend) == 'xla'


def test_unknown_values_are_one_line_config_errors_naming_key_and_choices():
  with pytest.raises(ConfigError, match=r"^vgg_conv_impl must be one of auto, xla, winograd, "
                                        r"got 'fast'$"):
    select.vgg_conv('fast')
  with pytest.raises(ConfigError, match=r"^model.conv_impl must be one of auto, xla, matmul, "
                                        r"got 'winograd'$"):
    select.dcgan_convs('winograd', 'gpu')
  with pytest.raises(ConfigError, match="model.conv_impl must be one of auto, xla, kn2row"):
    select.feedforward_conv('matmul')
