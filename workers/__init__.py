"""Celery workers (gpu and cpu queues), batch labeling, audit, eval and investigate jobs, and checkpoint audits.

Modules from the bottom up (each imports only modules listed before it; no cycles): ``celery_app``
(the app, queues, task names), ``claims`` (the fenced claim of label items and jobs), ``jobs``
(label-job parameters, views, finding a job again), ``tracked``, ``audit``, ``audit_report``,
``executor`` (`CeleryExecutor`), ``label`` (labeling units), ``service_jobs`` (audit, eval and
investigate jobs), ``tasks`` (the worker's tasks) and ``watch`` (the checkpoint watcher). Their
queries live in ``store.jobs``.
"""
