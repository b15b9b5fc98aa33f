"""Background work as data: pipelines (fetch, import, reconcile, post, export, holdings, notify)
defined in TOML, run on a timetable by the worker or by hand, each run and step kept as history,
failed runs retried with backoff, webhooks signed and every delivery logged.

``pipelines`` validates and stores the definitions, ``steps`` does the work of each step,
``runs`` runs a pipeline once (the worker calls only it), ``notify`` signs and delivers webhooks.
"""
