"""One small Spark session for the whole suite, and helpers shared by the tests."""

import os
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from jobs.config import load_policy
from tests.two_nights import make_world

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
VENV_BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"


@pytest.fixture(scope="session")
def spark():
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("rerate-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def policy():
    return load_policy(CONF_DIR / "policy.toml")


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """A tiny ledger with D-1 published (`base`) and D-1 + D published (`reference`)."""
    return make_world(tmp_path_factory)
