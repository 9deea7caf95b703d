"""Flax AMT models: Basic Pitch (pretrained port) and trainable variants."""
