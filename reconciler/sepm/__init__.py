"""Adapter to a SEPM manager: REST client (httpx), served-certificate observer (TLS), ``observe()``."""
