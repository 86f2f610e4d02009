"""`rerate report --date D`: a published run's figures, also written as a page beside its report."""

from datetime import date

from pyspark.sql import SparkSession

from jobs.config import Settings
from jobs.files.layout import OutputLayout
from jobs.files.storage import Storage
from jobs.outcome import failure_reason
from jobs.reporting.figures import run_figures
from jobs.reporting.views import report_html


def report(spark: SparkSession, settings: Settings, run_date: date) -> tuple[dict, str | None]:
    """The figures of D's published run, with `page` set to where the HTML page was written;
    a page that could not be written (a read-only output) leaves `page` None and says why."""
    figures = run_figures(spark, settings, run_date)
    page = OutputLayout(settings.output_path).report_page(run_date)
    try:
        Storage(spark).write_text(page, report_html(figures))
    except Exception as e:  # noqa: BLE001 - a read-only output still gets the figures
        figures["page"] = None
        return figures, f"the page could not be written at {page}: {failure_reason(e)}"
    figures["page"] = page
    return figures, None
