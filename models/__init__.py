"""Model construction: the offline multilingual-e5-small encoder and tiny test models.

Built model folders live beside this file (``models/encoders/…``,
``models/clausetag-me5-small/``) and are git-ignored.
"""
