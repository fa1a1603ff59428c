"""Files in and out: images, figures, downloads, atomic writes, PyTorch pickles.

``images``        load/convert/resize/save float32 RGB [0, 1] (H, W, 3) images
``figures``       image grids and 2D scatter plots as RGB arrays
``download``      fetch a file once into the cache, verified by checksum
``fileio``        atomic writes (a reader never sees a partial file)
``torch_pickle``  read ``torch.save`` files of tensors into numpy without torch
"""
