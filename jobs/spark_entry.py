"""Entry script for spark-submit: `spark-submit --py-files rerate.zip rerate_submit.py run ...`.

Under spark-submit the master comes from spark-submit (use the cluster profile, whose master is
empty); from `.venv/bin/rerate` the local profile's embedded local[*] is used.
"""

from jobs.cli import main

if __name__ == "__main__":
    main()
