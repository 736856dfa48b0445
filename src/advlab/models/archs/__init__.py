"""Every zoo architecture; importing this package registers them in :data:`advlab.models.registry.MODELS`."""

from advlab.models.archs import resnet, selectivenet, small_cnn, vit  # noqa: F401
