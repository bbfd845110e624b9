"""Clients share one TLS context per process: building one does not reload the CA bundle."""

from __future__ import annotations

import asyncio
import ssl

import certifi
from flux_canny import AsyncFluxCanny, FluxCanny


def test_a_second_client_does_not_load_the_ca_bundle_again(monkeypatch):
    loads = []
    original = ssl.SSLContext.load_verify_locations

    def counting(self, *args, **kwargs):
        loads.append(args or kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    FluxCanny(api_key="k", ledger=False).close()
    first = len(loads)
    FluxCanny(api_key="k", ledger=False).close()
    asyncio.run(AsyncFluxCanny(api_key="k", ledger=False).aclose())
    assert len(loads) == first  # nothing loaded for the second and third client


def test_ssl_cert_file_is_still_honoured(monkeypatch, tmp_path):
    from flux_canny._base import shared_tls

    before = shared_tls()
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(open(certifi.where(), "rb").read())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert shared_tls() is not before  # a new bundle, a new context
    assert shared_tls() is shared_tls()
