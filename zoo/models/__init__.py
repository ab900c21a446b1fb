"""Model families: importing this package registers every architecture."""
from . import resnet, senet  # noqa: F401
