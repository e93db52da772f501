"""gunicorn reads this file from the directory it is started in: each worker warms drillmgr up
(drillmgr.warm) before it takes its first request, so that no one waits for a template to compile."""

from drillmgr.warm import warm


def post_worker_init(worker) -> None:
    warm(worker.wsgi)
