"""sepm-cert-reconciler: rotate SEPM server certificates declaratively, without orphaning clients.

The public surface is the ``sepm-reconciler`` CLI, the spec format (``sepm-reconciler/v1``), the JSON outputs of the
CLI and :mod:`reconciler.errors`. Everything else is internal and may change between releases.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
