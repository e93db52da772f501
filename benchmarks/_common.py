"""What the benchmarks share: an app on a benchmark database, a fresh schema, statistics after a bulk load, timing.

Each benchmark puts the repository root on sys.path before importing this module.
"""

import os
import statistics
import time
from unittest import mock

import sqlalchemy as sa
from flask_migrate import upgrade

from config import Config
from drillmgr import create_app
from drillmgr.db import gather_statistics
from drillmgr.extensions import db


def make_app(url: str, **settings):
    """The app on the database at `url`; `settings` override configuration values (TESTING=True, …), and
    win over the same settings in the environment (DRILLMGR_SECRET_KEY …), which the app reads otherwise."""
    settings = {"SECRET_KEY": "benchmark", "SQLALCHEMY_DATABASE_URI": url, **settings}
    config = type("BenchConfig", (Config,), settings)
    overridden = {f"DRILLMGR_{key}" for key in settings}
    with mock.patch.dict(os.environ, {k: v for k, v in os.environ.items() if k not in overridden}, clear=True):
        return create_app(config)


def fresh_database() -> None:
    """Drops every table of the app's database (a benchmark database: never point it at real data), then migrates."""
    metadata = sa.MetaData()
    metadata.reflect(db.engine)
    with db.engine.begin() as connection:
        if db.engine.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        metadata.drop_all(connection)
    upgrade()


def analyze() -> None:
    """Commits the bulk load and gathers the planner's statistics, as `seed-demo` and the scheduler's daily job do."""
    db.session.commit()
    gather_statistics(db.session.connection())
    db.session.commit()


def timed(action, repeat: int, between=None, warm_up: bool = False) -> tuple[float, object]:
    """Median wall time in milliseconds of `repeat` runs of `action`, and its last result.

    `between` runs after each run, untimed (e.g. db.session.expire_all); `warm_up` runs it once first, untimed.
    """
    if warm_up:
        action()
    times, result = [], None
    for _ in range(repeat):
        result = None  # the last run's result is freed before this run is timed, not during it
        start = time.perf_counter()
        result = action()
        times.append((time.perf_counter() - start) * 1000)
        if between is not None:
            between()
    return statistics.median(times), result


def timed_with_cpu(action, repeat: int) -> tuple[tuple[float, float], object]:
    """Median wall time and median CPU time of this process (ms) over `repeat` runs, and the last result.

    The CPU time leaves out waiting for other processes on a busy machine; on SQLite it includes the
    database's own work, on PostgreSQL only ours (the server's is in the wall time).
    """
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        result = None  # the last run's result is freed before this run is timed, not during it
        wall, cpu = time.perf_counter(), time.process_time()
        result = action()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return (statistics.median(walls), statistics.median(cpus)), result
