"""GANs: models (Goodfellow 2014 MLPs, DCGAN, PacGAN mixture MLPs), losses, train step."""
