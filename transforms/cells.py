"""Champion and challenger cells: which policy decides an account.

The contract's rule: an account is in the challenger cell when the first 8 bytes of SHA-256 of
`"<salt>:<user_id>"`, read as a big-endian unsigned integer x and divided by 2^64, are below
`share`. With x an integer, x / 2^64 < share exactly when x < ceil(share * 2^64), so the test
needs no division: 16 hex digits, compared as text with the threshold's 16 hex digits (Spark's
`sha2` gives lower-case hex, as Python's `hexdigest` does). The salt alone fixes the cell, so an
account stays in it from night to night.
"""

import hashlib
import math
from decimal import Decimal
from fractions import Fraction

from pyspark.sql import Column
from pyspark.sql import functions as F

from transforms.policy import CHALLENGER, CHAMPION, Challenger

CELLS = (CHAMPION, CHALLENGER)
HASH_SPACE = 2**64


def threshold(share: Decimal) -> int:
    """The least x not in the challenger cell: ceil(share * 2^64), exact."""
    return math.ceil(Fraction(share) * HASH_SPACE)


def hash_prefix(salt: str, user_id: int) -> int:
    """The first 8 bytes of SHA-256("<salt>:<user_id>"), big-endian."""
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def cell_of(user_id: int, challenger: Challenger | None) -> str:
    """One account's cell, computed as the contract states it (the reference of `cell_column`)."""
    if challenger is None:
        return CHAMPION
    below = Fraction(hash_prefix(challenger.salt, user_id), HASH_SPACE) < Fraction(challenger.share)
    return CHALLENGER if below else CHAMPION


def in_challenger(user_id: Column, challenger: Challenger | None) -> Column:
    """Whether the account `user_id` is in the challenger cell, as a Spark expression."""
    if challenger is None:
        return F.lit(False)
    limit = threshold(challenger.share)
    if limit <= 0:
        return F.lit(False)
    if limit >= HASH_SPACE:
        return F.lit(True)
    prefix = F.substring(
        F.sha2(F.concat(F.lit(f"{challenger.salt}:"), user_id.cast("string")), 256), 1, 16
    )
    return prefix < F.lit(f"{limit:016x}")


def cell_column(user_id: Column, challenger: Challenger | None) -> Column:
    return F.when(in_challenger(user_id, challenger), CHALLENGER).otherwise(CHAMPION)
