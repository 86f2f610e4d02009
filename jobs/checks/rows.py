"""The row checks of a whole ledger (transforms.validate), with the few keys worth a closer look
brought to the driver first: ids seen twice, bills with two `bill` rows or two users."""

from pyspark.sql import DataFrame

from transforms.validate import CHECKS, closer_look

# Up to this many keys worth a closer look are broadcast to every task; beyond it (a replayed
# ledger) the rows are sorted by key instead, one shuffle of whole rows rather than two.
MAX_BROADCAST_KEYS = 500_000


def bring_few(keys: DataFrame) -> DataFrame | None:
    """The keys as a table the plan holds, or None when more than MAX_BROADCAST_KEYS.

    They are brought to the driver (a small job it waits for; nothing when the ledger is clean)
    and handed back as a table the plan holds: unlike a cached or locally checkpointed result,
    it is not lost with an executor.
    """
    found = keys.limit(MAX_BROADCAST_KEYS + 1).toArrow()
    if found.num_rows > MAX_BROADCAST_KEYS:
        return None
    return keys.sparkSession.createDataFrame(found)


def check_rows(rows: DataFrame, *, ledger: str) -> DataFrame:
    """`rows` of `ledger` with their `reject_reason`, checked as a whole ledger."""
    few = {name: bring_few(keys) for name, keys in closer_look(rows, ledger=ledger).items()}
    return rows.transform(CHECKS[ledger], **few)
