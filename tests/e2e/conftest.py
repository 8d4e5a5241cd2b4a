"""The e2e tests start real servers the way the integration tests do."""

from tests.integration.conftest import launch

__all__ = ["launch"]
