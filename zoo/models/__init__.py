"""Model families: importing this package registers every architecture."""
from . import coatnet, gfnet, mobilevit, parnet, resnet, senet, sknet  # noqa: F401
