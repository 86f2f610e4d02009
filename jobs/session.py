"""The one SparkSession of a process, built by the entry point from the settings."""

import logging

from pyspark.sql import SparkSession

from jobs.config import Settings


def start_spark(settings: Settings) -> SparkSession:
    """Embedded local Spark when the profile names a master; under spark-submit, its master."""
    builder = SparkSession.builder.appName(settings.spark_app_name)
    if settings.spark_master:
        builder = builder.master(settings.spark_master)
    for key, value in settings.spark_settings:
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    return spark
