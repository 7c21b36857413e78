"""Models: the built-in architectures (architectures.py, cifar_resnet.py), the user's own (factory.py), and
their weights read without running anything from the file (checkpoints.py, torchscript.py)."""

from engine.models.architectures import ARCHITECTURES
from engine.models.load import LoadedModel, load_model

__all__ = ["ARCHITECTURES", "LoadedModel", "load_model"]
