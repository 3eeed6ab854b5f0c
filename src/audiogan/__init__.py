"""audiogan: from raw audio to a trained WaveGAN and a pack of new sounds."""

__version__ = "0.1.0"
