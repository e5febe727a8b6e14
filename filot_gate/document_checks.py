"""Reading and asserting one document's rows in FiLot's database (``documents``,
``document_status_history``, ``verification_results``, ``manual_reviews``).

Messages name the document, what was expected and what the database holds.
"""

from __future__ import annotations

from typing import Any

from filot_contract.documents import VerificationStatus as S

#: The status changes DESIGN.md section 3 allows: queued -> processing -> decided -> settled, or failed.
ALLOWED_CHANGES = {
    S.QUEUED: {S.PROCESSING, S.AUTO_APPROVED, S.AUTO_REJECTED, S.MANUAL_REVIEW, S.FAILED},
    S.PROCESSING: {S.AUTO_APPROVED, S.AUTO_REJECTED, S.MANUAL_REVIEW, S.FAILED},
    S.MANUAL_REVIEW: {S.APPROVED, S.REJECTED},
}


def fetch_one(db: Any, sql: str, params: tuple) -> dict[str, Any] | None:
    """The first row of a query as a dict by column name (psycopg's default rows are tuples), or None."""
    cursor = db.execute(sql, params)
    row = cursor.fetchone()
    return dict(zip([column.name for column in cursor.description], row)) if row is not None else None


def history_problems(history: list[dict[str, Any]], current: str) -> list[str]:
    """What is wrong with a document's status history: start, order of timestamps, transitions, end."""
    if not history:
        return ["no rows in document_status_history"]
    problems = []
    statuses = [row["status"] for row in history]
    if statuses[0] != S.QUEUED.value:
        problems.append(f"first status is {statuses[0]}, expected {S.QUEUED.value}")
    for before, after in zip(history, history[1:]):
        if after["changed_at"] < before["changed_at"]:
            problems.append(f"{after['status']} at {after['changed_at']} is earlier than {before['status']} at {before['changed_at']}")
        if S(after["status"]) not in ALLOWED_CHANGES.get(S(before["status"]), set()):
            problems.append(f"change {before['status']} -> {after['status']} is not allowed")
    if statuses[-1] != current:
        problems.append(f"last history status {statuses[-1]} differs from documents.verification_status {current}")
    return problems


def assert_history_in_order(document_id: str, history: list[dict[str, Any]], current: str) -> None:
    problems = history_problems(history, current)
    shown = " -> ".join(f"{row['status']}@{row['changed_at']:%H:%M:%S.%f}" for row in history)
    assert not problems, (
        f"document_status_history of document {document_id}: expected timestamped changes in order"
        f" queued -> ... -> {current}; {'; '.join(problems)} (history: {shown or 'empty'})"
    )
