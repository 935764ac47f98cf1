"""Tagging many policies on Ray: ``clausetag predict --engine ray`` and a ``map_batches`` class.

Two ways in:

* the command line, ``clausetag predict --engine ray -o OUT/ INPUT...``: a pool
  of Ray actors, each loading the model once, reads, segments and tags one input
  file per task and writes it as one partition under ``OUT/`` (JSONL, or Parquet
  with ``--format parquet``) holding the records the single-process ``predict``
  writes for that input;
* for an existing Ray Data pipeline, ``ClauseTagger``: a callable class for
  ``Dataset.map_batches`` that adds ``labels`` and ``scores`` columns.

The engine's parts: ``inference.ray_tagger`` (the workers: ``FileTagger``,
``ClauseTagger``), ``inference.ray_cluster`` (importing Ray, joining or starting
it, sizing the workers) and ``inference.ray_run`` (planning, the actor pool, the
summary and ``--resume``). What they share with the single-process ``predict``
(jobs, chunks, loading the model) is ``inference.batch``.

Ray is imported only when one of them runs: importing this module (or
``clausetag.inference``) never imports it.
"""

from clausetag.inference.ray_tagger import ClauseTagger

__all__ = ["ClauseTagger"]
