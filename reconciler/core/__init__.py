"""The pure core: spec model, observations, records, the procedure table, ``decide`` and the drift checks.

Nothing here does I/O or reads a clock (an import-linter contract forbids the I/O libraries): every input is passed
in, including ``now``. That keeps decisions testable with plain tables.
"""
