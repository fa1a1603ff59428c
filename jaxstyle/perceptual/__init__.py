"""The frozen VGG feature extractor and the perceptual losses built on it.

``vgg``      VGG-16/19 (Flax) returning named activations (``relu4_2``, ...)
``weights``  pretrained weight sources (Keras, HED) bound to their preprocessing
``losses``   content, Gram-matrix style (plain and guided) and total-variation losses
``color``    YIQ luminance transfer and colour matching (Gatys et al. 2017)
"""
