"""``clausetag serve``: an HTTP service and a web page over one loaded model.

``limits`` and ``engine`` need only the standard library and clausetag's own
inference code; ``app`` (FastAPI) and ``server`` (uvicorn) are the ``[serve]``
extra. Nothing here is imported by ``import clausetag.inference``.
"""
