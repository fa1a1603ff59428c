"""Hand-written convolution formulations, each tested against ``lax``'s, and the one place
that picks them per backend.

``select``        which formulation each operation uses on each backend (``jax.default_backend()``),
                  and the config keys that override it: the hand-written ones are CPU
                  defaults (measured there); GPU, TPU and other backends get XLA's
``conv3x3``       frozen-kernel 3x3 convolutions for the VGG: Winograd F(2x2, 3x3) and an
                  input gradient computed as a forward convolution (Gatys, feed-forward)
``kn2row``        stride-1 convolutions with few output channels as one matmul plus shifted
                  sums (feed-forward inference)
``strided_conv``  DCGAN's 4x4 stride-2 convolution and transposed convolution as
                  ``lax`` calls or as patch extraction + matmul (GAN training)

bench/bench_gatys.py, bench/bench_feedforward.py and bench/bench_dcgan.py measure them on CPU.
"""
