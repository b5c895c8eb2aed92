"""The served-certificate observer: one TLS handshake per port, whatever the certificate.

The reconciler must *see* a wrong certificate rather than fail on it, so this probe — and only this one — completes
the handshake without verifying the peer (``CERT_NONE``) and reads the leaf certificate the server presented. It sends
nothing after the handshake. Each way a look can end is its own :class:`~reconciler.core.observation.PortOutcome`:
the TCP connection refused (service down or restarting), no answer in time, TCP connected but TLS failed, or
anything else (name resolution, unreachable network).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable

from reconciler.certs import served_certificate
from reconciler.core.observation import PortObservation, PortOutcome
from reconciler.errors import CertificateError

__all__ = ["observe_port", "observe_ports"]


def _probe_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # on purpose: we look at the certificate, we do not trust it
    return context


def _server_name(host: str) -> str | None:
    """SNI is for names, never for address literals."""
    bare = host.strip("[]")
    if ":" in bare or bare.replace(".", "").isdigit():
        return None
    return host


async def observe_port(name: str, host: str, port: int, *, within: float = 10.0) -> PortObservation:
    """Connect to ``host:port``, complete a TLS handshake and report what the server presented.

    ``within`` bounds the TCP connection and the handshake separately. Never raises for network outcomes: they
    are what is observed.
    """
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), within)
    except ConnectionRefusedError as exc:
        return PortObservation(
            name, port, PortOutcome.REFUSED, error=f"connection refused: {exc.strerror or exc}"
        )
    except TimeoutError:
        return PortObservation(
            name, port, PortOutcome.TIMEOUT, error=f"no TCP connection within {within:g} s"
        )
    except OSError as exc:
        return PortObservation(name, port, PortOutcome.ERROR, error=f"{type(exc).__name__}: {exc}")
    handshaken = False
    try:
        try:
            await asyncio.wait_for(
                writer.start_tls(_probe_context(), server_hostname=_server_name(host)), within
            )
            handshaken = True
        except TimeoutError:
            return PortObservation(
                name, port, PortOutcome.TIMEOUT, error=f"no TLS handshake within {within:g} s"
            )
        except (ssl.SSLError, ConnectionError, EOFError) as exc:
            return PortObservation(
                name,
                port,
                PortOutcome.HANDSHAKE_FAILED,
                error=f"TLS handshake failed: {type(exc).__name__}: {exc}",
            )
        except OSError as exc:
            return PortObservation(name, port, PortOutcome.ERROR, error=f"{type(exc).__name__}: {exc}")
        tls = writer.get_extra_info("ssl_object")
        der = tls.getpeercert(binary_form=True) if isinstance(tls, ssl.SSLObject) else None
        if not der:
            return PortObservation(
                name,
                port,
                PortOutcome.HANDSHAKE_FAILED,
                error="TLS handshake completed without a certificate",
            )
        try:
            certificate = served_certificate(der)
        except CertificateError as exc:
            return PortObservation(
                name,
                port,
                PortOutcome.HANDSHAKE_FAILED,
                error=f"the presented certificate cannot be read: {exc}",
            )
        return PortObservation(name, port, PortOutcome.PRESENTED, certificate=certificate)
    finally:
        del reader
        await _close(writer, graceful=handshaken)


async def _close(writer: asyncio.StreamWriter, *, graceful: bool) -> None:
    """Say goodbye properly after a good handshake (briefly); drop the connection after a failed one."""
    if graceful:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 0.5)
        except (OSError, ssl.SSLError, TimeoutError):
            pass
        else:
            return
    writer.transport.abort()


async def observe_ports(
    host: str, ports: Iterable[tuple[str, int]], *, within: float = 10.0
) -> dict[str, PortObservation]:
    """Observe every ``(name, port)`` of ``host`` concurrently: ``{"clients": …, "console": …, "api": …}``."""
    named = list(ports)
    results = await asyncio.gather(*(observe_port(name, host, port, within=within) for name, port in named))
    return {obs.name: obs for obs in results}
