"""Model families: importing this package registers every architecture."""
from . import resnet, senet, sknet  # noqa: F401
