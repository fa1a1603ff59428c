"""The precision policy: its values, its errors, every task's config key, the float32 cast."""

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxstyle.errors import ConfigError
from jaxstyle.runtime import config as config_lib
from jaxstyle.runtime import precision


def test_policies_keep_parameters_float32():
  p32, p16 = precision.policy('float32'), precision.policy('bfloat16')
  assert (p32.compute_dtype, p32.param_dtype, p32.mixed) == (jnp.float32, jnp.float32, False)
  assert (p16.compute_dtype, p16.param_dtype, p16.mixed) == (jnp.bfloat16, jnp.float32, True)
  assert p16.record() == {'precision': 'bfloat16', 'compute_dtype': 'bfloat16',
                          'param_dtype': 'float32'}


def test_bad_values_are_one_line_config_errors_naming_the_choices():
  with pytest.raises(ConfigError, match=r"^precision must be float32 or bfloat16, got 'float16'$"):
    precision.policy('float16')
  with pytest.raises(ConfigError, match=r"^precision must be float32, got 'bfloat16'; no bf16$"):
    precision.from_config(ml_collections.ConfigDict({'precision': 'bfloat16'}), ('float32',),
                          'no bf16')
  # A config saved before the key existed ran in float32.
  assert precision.from_config(ml_collections.ConfigDict({'seed': 0})).name == 'float32'


@pytest.mark.parametrize('name', ['gatys', 'mixture_ring8', 'dcgan_cifar10', 'johnson',
                                  'texture_net', 'adain'])
def test_every_task_has_the_key_defaulting_to_float32(name):
  c = config_lib.load(name)
  assert c.precision == 'float32'
  config_lib.override(c, 'precision', 'bfloat16')  # a string key: settable from the CLI
  assert c.precision == 'bfloat16'


def test_float32_casts_floating_leaves_only():
  tree = {'a': jnp.ones(3, jnp.bfloat16), 'b': jnp.arange(3), 'c': jnp.float32(2.5)}
  out = precision.float32(tree)
  assert out['a'].dtype == jnp.float32 and out['b'].dtype == tree['b'].dtype
  np.testing.assert_array_equal(np.asarray(out['a']), np.ones(3, np.float32))
  assert out['c'].dtype == jnp.float32
