"""Light inference: tag texts or whole policies with a trained model directory.

Importing this never imports training code, the Trainer or ``datasets``; the
ONNX backend needs only onnxruntime, tokenizers and numpy.
"""

from clausetag.inference.classifier import ClauseClassifier, Prediction, TaggedUnit
from clausetag.inference.modeldir import ModelDir
from clausetag.inference.segment import Segment, segment

__all__ = ["ClauseClassifier", "ModelDir", "Prediction", "Segment", "TaggedUnit", "segment"]
