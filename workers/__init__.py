"""Celery workers (gpu and cpu queues), batch labeling and checkpoint audits."""
