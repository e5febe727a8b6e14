"""The contract FiLot's parts share: Redis keys, messages, statuses, scoring and AWS names.

Both the sandbox (a FiLot deployment) and the gate (which checks one) import from here, so that a
name is written once (DESIGN.md section 3). A real deployment that names things differently is
handled by a gate profile, not by editing this package.
"""
