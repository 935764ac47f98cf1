"""clausetag: GDPR clause tagging for English and Latvian privacy policies.

The package is split so that embedding tools pay only for what they use:
``clausetag.inference`` needs numpy + tokenizers (+ onnxruntime or torch),
``clausetag.training`` pulls in transformers, datasets and scikit-learn.
"""

__version__ = "0.1.0"
