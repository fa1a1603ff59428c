"""PyTorch transcriptions used as references by tests and benchmarks (needs torch).

Nothing in jaxstyle imports this module; torch is an optional extra.
"""

from __future__ import annotations

import numpy as np


def transformer_net(widths=(32, 64, 128), num_residual=5):
  """pytorch/examples' fast_neural_style ``TransformerNet`` (RGB 0..255, NCHW), written
  from its description; its ``state_dict`` has the example's key names."""
  import torch
  nn = torch.nn

  class ConvLayer(nn.Module):
    def __init__(self, cin, cout, k, stride):
      super().__init__()
      self.reflection_pad = nn.ReflectionPad2d(k // 2)
      self.conv2d = nn.Conv2d(cin, cout, k, stride)

    def forward(self, x):
      return self.conv2d(self.reflection_pad(x))

  class Residual(nn.Module):
    def __init__(self, c):
      super().__init__()
      self.conv1, self.in1 = ConvLayer(c, c, 3, 1), nn.InstanceNorm2d(c, affine=True)
      self.conv2, self.in2 = ConvLayer(c, c, 3, 1), nn.InstanceNorm2d(c, affine=True)

    def forward(self, x):
      return x + self.in2(self.conv2(torch.relu(self.in1(self.conv1(x)))))

  class Upsample(nn.Module):
    def __init__(self, cin, cout):
      super().__init__()
      self.conv2d = nn.Conv2d(cin, cout, 3, 1)
      self.reflection_pad = nn.ReflectionPad2d(1)

    def forward(self, x):
      x = nn.functional.interpolate(x, mode='nearest', scale_factor=2)
      return self.conv2d(self.reflection_pad(x))

  w1, w2, w3 = widths

  class Net(nn.Module):
    def __init__(self):
      super().__init__()
      self.conv1, self.in1 = ConvLayer(3, w1, 9, 1), nn.InstanceNorm2d(w1, affine=True)
      self.conv2, self.in2 = ConvLayer(w1, w2, 3, 2), nn.InstanceNorm2d(w2, affine=True)
      self.conv3, self.in3 = ConvLayer(w2, w3, 3, 2), nn.InstanceNorm2d(w3, affine=True)
      for i in range(num_residual):
        setattr(self, f'res{i + 1}', Residual(w3))
      self.deconv1, self.in4 = Upsample(w3, w2), nn.InstanceNorm2d(w2, affine=True)
      self.deconv2, self.in5 = Upsample(w2, w1), nn.InstanceNorm2d(w1, affine=True)
      self.deconv3 = ConvLayer(w1, 3, 9, 1)

    def forward(self, x):
      y = torch.relu(self.in1(self.conv1(x)))
      y = torch.relu(self.in2(self.conv2(y)))
      y = torch.relu(self.in3(self.conv3(y)))
      for i in range(num_residual):
        y = getattr(self, f'res{i + 1}')(y)
      y = torch.relu(self.in4(self.deconv1(y)))
      y = torch.relu(self.in5(self.deconv2(y)))
      return self.deconv3(y)

  return Net()


def vgg_features(arch: str = 'vgg16', last: str = 'relu4_3'):
  """A VGG conv stack up to ``last`` (max pooling), returning every relu as a dict."""
  import torch

  from jaxstyle.perceptual import vgg
  nn = torch.nn
  names = vgg.layer_names(arch)[:vgg.layer_names(arch).index(last) + 1]

  class Features(nn.Module):
    def __init__(self):
      super().__init__()
      self.convs = nn.ModuleDict()
      cin = 3
      for n in names:
        if n.startswith('conv'):
          self.convs[n] = nn.Conv2d(cin, vgg.channels(n), 3, padding=1)
          cin = vgg.channels(n)

    def load_jax(self, params):
      with torch.no_grad():
        for n, conv in self.convs.items():
          conv.weight.copy_(torch.from_numpy(np.asarray(
              params[n + '_kernel']).transpose(3, 2, 0, 1).copy()))
          conv.bias.copy_(torch.from_numpy(np.asarray(params[n + '_bias'])))
      return self

    def forward(self, x):
      out = {}
      for n in names:
        if n.startswith('conv'):
          x = self.convs[n](x)
        elif n.startswith('relu'):
          x = torch.relu(x)
        else:
          x = nn.functional.max_pool2d(x, 2)
        out[n] = x
      return out

  return Features()
