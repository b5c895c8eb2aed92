"""The engine: one tick per server — gather (observe + record) → decide → act (at most once) → persist."""
