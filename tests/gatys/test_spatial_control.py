"""Spatial control (Gatys et al. 2017): guided Gram matrices and a style per region."""

import numpy as np
import pytest

from jaxstyle.errors import ConfigError, ImageError
from jaxstyle.gatys import transfer
from jaxstyle.io import images
from jaxstyle.perceptual import losses, vgg, weights
from tests.conftest import random_convs


@pytest.fixture(scope='module')
def loaded():
  return weights.LoadedWeights(weights.SOURCES['keras_vgg16'], None,
                               vgg.to_params(random_convs('vgg16', seed=7)))


def test_guided_gram_matches_its_definition():
  rng = np.random.default_rng(0)
  f = rng.normal(size=(1, 6, 5, 4)).astype(np.float32)
  guides = rng.uniform(size=(3, 6, 5)).astype(np.float32)
  got = np.asarray(losses.guided_gram(f, guides))
  for r in range(3):
    g = f[0] * guides[r][..., None]                       # T_r o F
    m = g.reshape(-1, 4)
    np.testing.assert_allclose(got[r], m.T @ m / np.sum(guides[r] ** 2), rtol=1e-5)


@pytest.mark.parametrize('form', ['sum', 'mean'])
def test_one_full_region_is_the_unguided_style_loss(form):
  rng = np.random.default_rng(1)
  f = rng.normal(size=(1, 8, 8, 5)).astype(np.float32)
  target = rng.normal(size=(1, 5, 5)).astype(np.float32)
  guided = losses.guided_style_layer_loss(f, np.ones((1, 8, 8), np.float32), target, form)
  assert float(guided) == pytest.approx(float(losses.style_layer_loss(f, target, form)), rel=1e-5)


def test_region_losses_add_up():
  rng = np.random.default_rng(2)
  f = rng.normal(size=(1, 8, 8, 5)).astype(np.float32)
  guides = np.stack([np.tri(8, dtype=np.float32), 1 - np.tri(8, dtype=np.float32)])
  targets = rng.normal(size=(2, 5, 5)).astype(np.float32)
  both = losses.guided_style_layer_loss(f, guides, targets, 'sum')
  parts = [losses.guided_style_layer_loss(f, guides[r:r + 1], targets[r:r + 1], 'sum')
           for r in range(2)]
  assert float(both) == pytest.approx(float(sum(parts)), rel=1e-5)


def test_guides_reach_each_layer_at_its_resolution(loaded):
  st = transfer.Stylizer(loaded, transfer.Settings(content_layers=(), content_weight=0.0,
                                                 style_layers=('relu1_1', 'relu3_1')))
  shapes = st.layer_shapes((40, 24), ('relu1_1', 'relu3_1'))
  assert shapes == {'relu1_1': (40, 24), 'relu3_1': (10, 6)}
  mask = np.zeros((40, 24), np.float32)
  mask[:, :12] = 1.0
  simple = np.asarray(transfer.layer_guide(mask, (10, 6), 'simple'))
  inside = np.asarray(transfer.layer_guide(mask, (10, 6), 'inside'))
  np.testing.assert_allclose(simple[:, 0], 1.0, atol=1e-6)
  np.testing.assert_allclose(simple[:, -1], 0.0, atol=1e-6)
  assert 0 < simple[0, 2] < 1 or 0 < simple[0, 3] < 1      # the boundary is blurred
  assert set(np.unique(inside)) <= {0.0, 1.0} and inside[:, :2].all() and not inside[:, 3:].any()


def _solid_texture(rgb, seed, shape=(32, 32)):
  rng = np.random.default_rng(seed)
  return np.clip(np.asarray(rgb, np.float32) + rng.normal(0, 0.05, (*shape, 3)), 0, 1)


def test_targets_of_a_region_are_its_style_images_gram(loaded):
  settings = transfer.Settings(content_layers=(), content_weight=0.0,
                              style_layers=('relu1_1', 'relu2_1'))
  st = transfer.Stylizer(loaded, settings)
  red, blue = _solid_texture([0.9, 0.1, 0.1], 0), _solid_texture([0.1, 0.1, 0.9], 1)
  top = np.zeros((32, 32), np.float32)
  top[:16] = 1
  regions = [transfer.Region(top, 1), transfer.Region(1 - top, 0)]
  targets = st.targets(None, [red, blue], [1.0, 1.0], regions, 'simple', (32, 32))
  plain_blue = st.targets(None, [blue], [1.0]).style
  plain_red = st.targets(None, [red], [1.0]).style
  for layer in settings.style_layers:
    np.testing.assert_allclose(targets.style[layer][0], plain_blue[layer][0], rtol=1e-4)
    np.testing.assert_allclose(targets.style[layer][1], plain_red[layer][0], rtol=1e-4)
  assert targets.guides['relu2_1'].shape == (2, 16, 16)


def test_each_region_takes_its_own_style(loaded):
  """Texture synthesis with the top half guided to a red and the bottom to a blue
  texture: each half ends up with its style's colour, which the unguided blend of the
  two styles does not give."""
  settings = transfer.Settings(content_layers=(), content_weight=0.0, style_layers=('relu1_1',),
                              style_layer_weights='uniform', init='noise', iterations=40)
  st = transfer.Stylizer(loaded, settings)
  red, blue = _solid_texture([0.9, 0.2, 0.1], 0), _solid_texture([0.1, 0.2, 0.9], 1)
  top = np.zeros((32, 32), np.float32)
  top[:16] = 1
  guided = transfer.stylize(st, None, [red, blue], image_size=32,
                           regions=[transfer.Region(top, 0), transfer.Region(1 - top, 1)])
  upper, lower = guided[2:14].mean((0, 1)), guided[18:30].mean((0, 1))
  assert upper[0] > upper[2] + 0.3 and lower[2] > lower[0] + 0.3, (upper, lower)
  blended = transfer.stylize(st, None, [red, blue], image_size=32)
  bu, bl = blended[2:14].mean((0, 1)), blended[18:30].mean((0, 1))
  assert abs((bu[0] - bu[2]) - (bl[0] - bl[2])) < 0.3  # no spatial separation without masks


def test_region_errors_are_one_line(loaded):
  st = transfer.Stylizer(loaded, transfer.Settings(content_layers=(), content_weight=0.0,
                                                 style_layers=('relu1_1', 'relu3_1')))
  style = _solid_texture([0.5, 0.5, 0.5], 0)
  ones = np.ones((32, 32), np.float32)
  with pytest.raises(ConfigError, match='region 1 uses style image 2'):
    transfer.prepare(st, None, [style], image_size=32, regions=[transfer.Region(ones, 1)])
  with pytest.raises(ImageError, match='region 1: the mask must be'):
    transfer.prepare(st, None, [style], image_size=32,
                    regions=[transfer.Region(np.zeros((32, 32), np.float32), 0)])
  with pytest.raises(ConfigError, match='guide_mode'):
    transfer.prepare(st, None, [style], image_size=32, guide_mode='all')
  sliver = np.zeros((32, 32), np.float32)
  sliver[:, :2] = 1  # 2 px wide: nothing of it is fully inside a relu3_1 position
  plan = transfer.prepare(st, None, [style], image_size=32, guide_mode='inside',
                         regions=[transfer.Region(sliver, 0)])
  with pytest.raises(ImageError, match='region 1: its mask is empty at layer relu3_1'):
    transfer.run(st, plan)


def test_gatys_config_reads_masks_and_checks_them(tmp_path):
  from experiments.configs import gatys as gatys_config
  from jaxstyle.gatys import task as gatys
  content = np.zeros((30, 40, 3), np.float32)
  styles = [np.zeros((20, 20, 3), np.float32)] * 2
  half = np.zeros((30, 40), np.float32)
  half[:15] = 1
  images.save(tmp_path / 'top.png', np.repeat(half[..., None], 3, -1))
  images.save(tmp_path / 'bottom.png', np.repeat(1 - half[..., None], 3, -1))
  images.save(tmp_path / 'tall.png', np.ones((40, 30, 3), np.float32))
  c = gatys_config.get_config()
  c.content_masks = f'{tmp_path}/top.png,{tmp_path}/bottom.png'
  regions = gatys.regions_from_config(c, content, styles)
  assert [r.style for r in regions] == [0, 1]            # one style per region by default
  np.testing.assert_allclose(regions[0].mask, half, atol=1 / 255)
  c.region_styles = '1,1'
  assert [r.style for r in gatys.regions_from_config(c, content, styles)] == [1, 1]
  c.region_styles = '0,2'
  with pytest.raises(ConfigError, match='not a style image index'):
    gatys.regions_from_config(c, content, styles)
  c.region_styles = '0'
  with pytest.raises(ConfigError, match='as many region_styles'):
    gatys.regions_from_config(c, content, styles)
  c.region_styles = ''
  c.content_masks = f'{tmp_path}/tall.png,{tmp_path}/bottom.png'
  with pytest.raises(ConfigError, match='draw the mask on that image'):
    gatys.regions_from_config(c, content, styles)
  c.content_masks = ''
  c.region_styles = '0'
  with pytest.raises(ConfigError, match='need content_masks'):
    gatys.regions_from_config(c, content, styles)
