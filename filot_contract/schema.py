"""The database schema FiLot's migrations create and the gate checks (seeds 000 section 5, 002 section 2).

The migrations (``MIGRATIONS_DIR``, files ``NNNN_name.sql`` recorded in ``schema_migrations``) are
the source of truth; these names are what every other part relies on being there.
"""

from __future__ import annotations

from filot_contract.documents import VerificationStatus

#: Where the release's versioned SQL migrations live, relative to the repository root.
MIGRATIONS_DIR = "sandbox/migrations"
#: Table in which the migration runner records each applied file (version, name, checksum).
MIGRATIONS_TABLE = "schema_migrations"

#: The tables of seeds 000 section 5 and 002 section 2.
TABLES = ("users", "profiles", "documents", "verification_results", "manual_reviews")

#: (table, column, referenced table, referenced column): the foreign keys that tie a document to its
#: user, its results and its reviews.
FOREIGN_KEYS = (
    ("profiles", "user_id", "users", "id"),
    ("documents", "user_id", "users", "id"),
    ("verification_results", "document_id", "documents", "id"),
    ("manual_reviews", "document_id", "documents", "id"),
    ("manual_reviews", "verification_result_id", "verification_results", "id"),
)

#: The column whose CHECK constraint must allow exactly the contract's statuses.
STATUS_COLUMN = ("documents", "verification_status")
STATUS_VALUES = frozenset(s.value for s in VerificationStatus)

#: The container variable that gives a FiLot service the database (a secret in the task definition).
DATABASE_URL_ENV = "DATABASE_URL"
#: The container variable that caps a service's PostgreSQL pool per task, and the cap when it is unset.
POOL_SIZE_ENV = "DB_POOL_MAX"
DEFAULT_POOL_SIZE = 10
