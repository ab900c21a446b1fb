"""Errors the zoo raises on purpose.

Each one says what went wrong and what to do about it, so that a user never has to read a
traceback from deep inside Keras or TensorFlow to find out that a name was misspelled.
"""


class ZooError(Exception):
    """Base class of every error raised on purpose by `zoo` and `export`."""


class UnknownModelError(ZooError, KeyError):
    """A model, tag or alias name that the registry does not know."""

    def __str__(self):  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class InvalidArgumentError(ZooError, ValueError):
    """An argument, or a combination of arguments, that cannot work."""


class CheckpointError(ZooError, ValueError):
    """A checkpoint that cannot be read or does not fit the model."""


class WeightsUnavailableError(ZooError, OSError):
    """Pretrained weights that cannot be found, downloaded or verified."""


class ExportError(ZooError, RuntimeError):
    """An artifact that cannot be written, or that does not run or match in its target runtime."""
