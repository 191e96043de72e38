"""Data: the image datasets (CIFAR-10 and the offline stand-ins) and uploaded images, as uint8 tensors."""
