"""The Celery worker of the Procfile: ``celery -A app.worker worker``.

Importing :mod:`app.main` builds the dashboard with ``REDIS_URL`` set, which makes the Jobs page's
background callbacks (training, analysis) Celery tasks of the app below; the worker runs them.
It reads the same environment as the web process: ``CNNCMP_RUNS_DIR`` (a bucket, when the
machines share no disk), ``REDIS_URL`` (broker, results, stop requests and the analysis cache)
and its own ``CNNCMP_DATA_DIR``. Each worker process runs one job at a time; several workers on
several machines train different models of the family at once.
"""

from __future__ import annotations

from analysis.settings import SettingsError
from app import main
from app.background import celery_app

if not main.settings.redis_url:
    raise SettingsError(
        "the Celery worker needs REDIS_URL (its broker, result store and the shared cache); "
        "without Redis, `python -m app` runs jobs in local processes instead"
    )

celery = celery_app(main.settings.redis_url)
