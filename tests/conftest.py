"""One small Spark session for the whole suite, and helpers shared by the tests."""

import os
from pathlib import Path

import pytest

from jobs.config import load_policy, load_settings
from tests.e2e import LONG_SESSION_JVM, small_profile
from tests.two_nights import make_world

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
VENV_BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """The suite's one SparkSession, started by the job's own entry code from the profile the
    end-to-end tests use, so a command run in-process sees the settings it would as a process."""
    from jobs.session import start_spark

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    settings = load_settings(small_profile(tmp_path_factory.mktemp("session"), LONG_SESSION_JVM))
    session = start_spark(settings)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def policy():
    return load_policy(CONF_DIR / "policy.toml")


@pytest.fixture(scope="session")
def world(spark, tmp_path_factory):
    """A tiny ledger with D-1 published (`base`) and D-1 + D published (`reference`)."""
    return make_world(tmp_path_factory)
