"""clausetag: GDPR clause tagging for English and Latvian privacy policies.

The package is split so that embedding tools pay only for what they use:
``clausetag.inference`` needs numpy + tokenizers (+ onnxruntime or torch),
``clausetag.training`` pulls in transformers, datasets and scikit-learn.

Importing it imports none of those. It does arrange that, once the program imports
transformers' Auto classes or pipelines, they know clausetag's mean-pooling model type
and the ``clausetag`` pipeline task (``clausetag.transformers_hook``).
"""

from clausetag.transformers_hook import install as _install_transformers_hook

__version__ = "0.1.0"

_install_transformers_hook()
