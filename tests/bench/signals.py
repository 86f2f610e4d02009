"""Adds the signals ledger to a bench book generated before it existed: the same rows `rerate
generate` writes for those sizes and seed.

    python -m tests.bench.signals INPUT_ROOT USERS DAYS END SEED
"""

import sys
from datetime import date

from jobs.commands.generate import generate_signals
from jobs.config import load_settings
from jobs.session import start_spark

if __name__ == "__main__":
    input_root, users, days, end, seed = sys.argv[1:6]
    spark = start_spark(load_settings(None))
    rows = generate_signals(
        spark,
        input_path=input_root,
        users=int(users),
        days=int(days),
        end=date.fromisoformat(end),
        seed=int(seed),
    )
    print(f"signals: {rows:,} rows")
    spark.stop()
