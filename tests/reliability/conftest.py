"""The reliability group uses the call-path fixtures: a gateway with real workers."""

from tests.integration.conftest import gateway, gateway_options, sip_media

__all__ = ["gateway", "gateway_options", "sip_media"]
