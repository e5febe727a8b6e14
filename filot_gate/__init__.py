"""The FiLot deployment gate: ordered pytest gates, verdict, rollback and the sign-off report."""

__version__ = "0.1.0"
