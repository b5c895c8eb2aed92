"""A faithful SEPM simulator. Imports nothing else from ``reconciler`` (an import-linter contract)."""
