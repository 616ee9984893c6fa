"""Address validators against the official test vectors of BIP-173, BIP-350 and EIP-55.

Vectors copied verbatim from bitcoin/bips bip-0173.mediawiki and bip-0350.mediawiki ("Test
vectors" sections) and from ethereum/EIPs EIPS/eip-55.md (the checksummed examples, plus the
all-caps / all-lower cases of its test section).
"""

from __future__ import annotations

import base58
import pytest

from otcdesk.settlement.addresses import (
    Encoding,
    bech32_decode,
    decode_segwit,
    is_whitelisted,
    networks_of,
    validate,
    validate_btc,
    validate_eth,
    validate_tron,
)

# -- BIP-173: valid Bech32 strings, and invalid ones (reason) ----------------------------------
BIP173_VALID = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]
BIP173_INVALID = [
    "\x201nwldj5",  # HRP character out of range
    "\x7f1axkwrx",  # HRP character out of range
    "\x801eym55h",  # HRP character out of range
    "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",  # too long
    "pzry9x0s0muk",  # no separator
    "1pzry9x0s0muk",  # empty HRP
    "x1b4n0q5v",  # invalid data character
    "li1dgmt3",  # too short checksum
    "de1lg7wt\xff",  # invalid character in checksum
    "A1G7SGD8",  # checksum calculated with uppercase form of HRP
    "10a06t8",  # empty HRP
    "1qzzfhee",  # empty HRP
]
# -- BIP-350: valid Bech32m strings, and invalid ones ---------------------------------------------
BIP350_VALID = [
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
]
BIP350_INVALID = [
    "\x201xj0phk",
    "\x7f1g6xzxy",
    "\x801vctc34",  # HRP character out of range
    "an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4",  # too long
    "qyrz8wqd2c9m",  # no separator
    "1qyrz8wqd2c9m",  # empty HRP
    "y1b0jsk6g",
    "lt1igcx5c0",  # invalid data character
    "in1muywd",  # too short checksum
    "mm1crxm3i",
    "au1s5cgom",  # invalid character in checksum
    "M1VUXWEZ",  # checksum calculated with uppercase form of HRP
    "16plkw9",
    "1p2gdwpf",  # empty HRP
]
# -- segwit addresses: BIP-350's list (BIP-173's v1+ vectors were re-encoded in Bech32m) ------------
SEGWIT_VALID = [
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
    ),
    (
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
        "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
    ),
    ("BC1SW50QGDZ25J", "6002751e"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"),
    (
        "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
        "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
        "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    ),
]
SEGWIT_INVALID = [
    # BIP-350
    "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",  # invalid HRP
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",  # Bech32 instead of Bech32m
    "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",  # Bech32 instead of Bech32m
    "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",  # Bech32 instead of Bech32m
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",  # Bech32m instead of Bech32
    "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",  # Bech32m instead of Bech32
    "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",  # invalid character in checksum
    "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",  # invalid witness version
    "bc1pw5dgrnzv",  # invalid program length (1 byte)
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",  # 41 bytes
    "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",  # invalid program length for v0 (BIP-141)
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",  # mixed case
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",  # zero padding > 4 bits
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",  # non-zero padding
    "bc1gmk9yu",  # empty data section
    # BIP-173
    "tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty",  # invalid HRP
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",  # invalid checksum
    "BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2",  # invalid witness version
    "bc1rw5uspcuh",  # invalid program length
    "bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90",  # invalid program length
    "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",  # mixed case
    "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",  # zero padding of more than 4 bits
    "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv",  # non-zero padding
]
# BIP-173's v1+ examples, valid under BIP-173 but Bech32 where BIP-350 now requires Bech32m
BIP173_V1_PLUS_NOW_INVALID = [
    "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
    "BC1SW50QA3JX3S",
    "bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj",
]


@pytest.mark.parametrize("text", BIP173_VALID)
def test_bip173_valid_bech32(text):
    decoded = bech32_decode(text)
    assert decoded is not None and decoded[2] is Encoding.BECH32


@pytest.mark.parametrize("text", BIP350_VALID)
def test_bip350_valid_bech32m(text):
    decoded = bech32_decode(text)
    assert decoded is not None and decoded[2] is Encoding.BECH32M


@pytest.mark.parametrize("text", BIP173_INVALID + BIP350_INVALID)
def test_bip173_bip350_invalid_strings(text):
    assert bech32_decode(text) is None


def _script_pubkey(version: int, program: bytes) -> str:
    return (bytes([version + 0x50 if version else 0, len(program)]) + program).hex()


@pytest.mark.parametrize(("address", "script"), SEGWIT_VALID)
def test_valid_segwit_addresses_decode_to_their_script(address, script):
    hrp = address[:2].lower()
    decoded = decode_segwit(hrp, address)
    assert decoded is not None and _script_pubkey(*decoded) == script
    assert validate_btc(address).ok is (hrp == "bc")  # the desk settles on mainnet only


@pytest.mark.parametrize("address", SEGWIT_INVALID + BIP173_V1_PLUS_NOW_INVALID)
def test_invalid_segwit_addresses(address):
    assert decode_segwit("bc", address) is None and decode_segwit("tb", address) is None
    assert not validate_btc(address).ok


def test_base58check_p2pkh_and_p2sh():
    assert validate_btc("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2").kind == "p2pkh"
    assert validate_btc("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy").kind == "p2sh"
    assert not validate_btc("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3").ok  # checksum
    testnet = base58.b58encode_check(b"\x6f" + bytes(20)).decode()
    assert not validate_btc(testnet).ok  # testnet version byte


# -- EIP-55 --------------------------------------------------------------------------------------
EIP55_CHECKSUMMED = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
EIP55_ALL_CAPS = ["0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D"]
EIP55_ALL_LOWER = ["0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26"]


@pytest.mark.parametrize("address", EIP55_CHECKSUMMED)
def test_eip55_checksummed_examples(address):
    assert validate_eth(address).kind == "eip55"
    flipped = address[:-1] + (address[-1].lower() if address[-1].isupper() else address[-1].upper())
    if flipped != address:
        assert not validate_eth(flipped).ok


@pytest.mark.parametrize("address", EIP55_ALL_CAPS + EIP55_ALL_LOWER)
def test_eip55_unchecksummed_valid_by_standard_refused_by_desk_policy(address):
    assert validate_eth(address, require_checksum=False).ok
    assert not validate_eth(address, require_checksum=True).ok


@pytest.mark.parametrize(
    "address",
    [
        "0x123",
        "0x" + "g" * 40,
        "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",
    ],
)
def test_eth_malformed(address):
    assert not validate_eth(address, require_checksum=False).ok


# -- TRON ----------------------------------------------------------------------------------------
USDT_TRC20 = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"  # Tether's USDT contract on TRON


def test_tron_known_good_and_corruptions():
    assert validate_tron(USDT_TRC20).ok and len(USDT_TRC20) == 34
    for i in (1, 10, 33):
        c = USDT_TRC20[i]
        corrupt = USDT_TRC20[:i] + ("2" if c != "2" else "3") + USDT_TRC20[i + 1 :]
        assert not validate_tron(corrupt).ok
    assert not validate_tron(USDT_TRC20[:-1]).ok
    btc_payload = base58.b58encode_check(b"\x00" + base58.b58decode_check(USDT_TRC20)[1:]).decode()
    assert not validate_tron(btc_payload).ok  # right length, wrong prefix


def test_wrong_network_is_named_and_whitelist_matches():
    check = validate(EIP55_CHECKSUMMED[0], "TRON")
    assert not check.ok and check.kind == "wrong-network" and "ETH" in (check.reason or "")
    assert networks_of(USDT_TRC20) == ("TRON",)
    assert is_whitelisted(EIP55_CHECKSUMMED[0].lower(), (EIP55_CHECKSUMMED[0],))
    assert not is_whitelisted(USDT_TRC20.lower(), (USDT_TRC20,))
