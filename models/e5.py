"""multilingual-e5's input convention, the one place it is spelt (no imports: any module may read it).

E5 was trained with ``"query: "`` before every text it embeds and mean pooling over
its tokens. ``clausetag train`` puts the prefix before each unit (``--pooling mean``,
the default) and records it in ``config.json`` (``text_prefix``) for every inference
path to repeat; the recipe study's frozen-encoder rows use it the same way.
"""

E5_PREFIX = "query: "
