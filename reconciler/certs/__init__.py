"""Certificate and keystore inspection (``cryptography``): facts and named findings."""
