import pytest

from rpsquest.loopback import is_loopback


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1"])
def test_loopback_addresses(address):
    assert is_loopback(address)


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.0.1", "::ffff:10.0.0.1", "", "localhost"])
def test_other_addresses_and_non_addresses(address):
    assert not is_loopback(address)


def test_no_address():
    assert not is_loopback(None)
