"""Models: Basic Pitch in Flax (its pretrained weights from the wheel's ONNX), planted models, and
the registry that turns a spec (``basic-pitch``, ``trained:DIR``, ``planted-b3``, ``oracle``) into
a :class:`amt_jax.models.registry.Model`."""
