"""Speed and memory kernels for the training path, each tested against the plain PyTorch path on CPU."""
