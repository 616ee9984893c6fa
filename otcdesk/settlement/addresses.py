"""Address validation per chain, so the desk never sends to an address the network cannot hold.

- Bitcoin SegWit: BIP-173 (Bech32, witness v0) and BIP-350 (Bech32m, witness v1..v16). The
  `bech32` package (1.2.0, sipa's reference code) implements BIP-173 only: its checksum test is
  `polymod == 1`, it has no `Encoding` and it skips the 90-character limit (commented out). So
  the string decoding here is BIP-350's combined decoder, built on the package's `bech32_polymod`,
  `bech32_hrp_expand`, `convertbits` and `CHARSET`: a checksum constant of 1 means Bech32,
  0x2bc830a3 means Bech32m, and the witness version must match (v0 Bech32, v1+ Bech32m).
- Bitcoin legacy: Base58Check (`base58.b58decode_check`), 21-byte payload, version 0x00 (P2PKH,
  "1...") or 0x05 (P2SH, "3...") on mainnet.
- Ethereum: EIP-55. All-lowercase and all-uppercase hex are valid but carry no checksum; a mixed
  case address must pass the checksum (`eth_utils.is_checksum_address`). The desk requires the
  checksummed form by default (`SettlementSettings.eth_require_checksum`): a whitelist entry is
  typed once and then used for every deal, and without the checksum a typo sends funds to an
  address nobody controls.
- TRON: Base58Check of 21 bytes, prefix 0x41 (34 characters starting with "T").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import base58
import bech32
import eth_utils

BECH32M_CONST = 0x2BC830A3
BTC_HRP = "bc"
BTC_VERSIONS = {0x00: "p2pkh", 0x05: "p2sh"}
TRON_PREFIX = 0x41
NETWORKS = ("BTC", "ETH", "TRON")


class Encoding(Enum):
    BECH32 = 1
    BECH32M = 2


@dataclass(frozen=True, slots=True)
class AddressCheck:
    ok: bool
    network: str
    kind: str  # p2wpkh, p2wsh, p2tr, segwit-vN, p2pkh, p2sh, eip55, hex-unchecksummed, tron, invalid
    reason: str | None = None


def bech32_decode(bech: str) -> tuple[str, list[int], Encoding] | None:
    """(hrp, data without checksum, encoding) of a Bech32 or Bech32m string, or None (BIP-350)."""
    if any(ord(c) < 33 or ord(c) > 126 for c in bech) or (bech.lower() != bech and bech.upper() != bech):
        return None
    bech = bech.lower()
    pos = bech.rfind("1")
    if pos < 1 or pos + 7 > len(bech) or len(bech) > 90:
        return None
    if not all(c in bech32.CHARSET for c in bech[pos + 1 :]):
        return None
    hrp = bech[:pos]
    data = [bech32.CHARSET.find(c) for c in bech[pos + 1 :]]
    check = bech32.bech32_polymod(bech32.bech32_hrp_expand(hrp) + data)
    encoding = {1: Encoding.BECH32, BECH32M_CONST: Encoding.BECH32M}.get(check)
    return None if encoding is None else (hrp, data[:-6], encoding)


def decode_segwit(hrp: str, address: str) -> tuple[int, bytes] | None:
    """(witness version, program) of a SegWit address for `hrp`, or None (BIP-173 + BIP-350)."""
    decoded = bech32_decode(address)
    if decoded is None or decoded[0] != hrp or not decoded[1]:
        return None
    _, data, encoding = decoded
    program = bech32.convertbits(data[1:], 5, 8, False)
    version = data[0]
    if program is None or not 2 <= len(program) <= 40 or version > 16:
        return None
    if version == 0 and len(program) not in (20, 32):
        return None
    if (version == 0) != (encoding is Encoding.BECH32):
        return None
    return version, bytes(program)


def _b58check(address: str) -> bytes | None:
    try:
        return base58.b58decode_check(address)
    except ValueError:
        return None


def validate_btc(address: str) -> AddressCheck:
    segwit = decode_segwit(BTC_HRP, address)
    if segwit is not None:
        version, program = segwit
        kind = {(0, 20): "p2wpkh", (0, 32): "p2wsh", (1, 32): "p2tr"}.get((version, len(program)), f"segwit-v{version}")
        return AddressCheck(True, "BTC", kind)
    if address[:3].lower() == "bc1":
        return AddressCheck(False, "BTC", "invalid", "bad Bech32/Bech32m address (BIP-173/350)")
    payload = _b58check(address)
    if payload is None:
        return AddressCheck(False, "BTC", "invalid", "not Bech32 and bad Base58Check")
    if len(payload) != 21 or payload[0] not in BTC_VERSIONS:
        return AddressCheck(False, "BTC", "invalid", f"Base58Check version 0x{payload[0]:02x}/len {len(payload)}")
    return AddressCheck(True, "BTC", BTC_VERSIONS[payload[0]])


def validate_eth(address: str, require_checksum: bool = True) -> AddressCheck:
    if not address.startswith("0x") or not eth_utils.is_hex_address(address):
        return AddressCheck(False, "ETH", "invalid", "not 0x + 40 hex digits")
    body = address[2:]
    if body.lower() == body or body.upper() == body:  # EIP-55: no checksum information
        if require_checksum:
            return AddressCheck(False, "ETH", "hex-unchecksummed", "desk requires the EIP-55 checksummed form")
        return AddressCheck(True, "ETH", "hex-unchecksummed")
    if not eth_utils.is_checksum_address(address):
        return AddressCheck(False, "ETH", "invalid", "EIP-55 checksum mismatch")
    return AddressCheck(True, "ETH", "eip55")


def validate_tron(address: str) -> AddressCheck:
    payload = _b58check(address)
    if payload is None:
        return AddressCheck(False, "TRON", "invalid", "bad Base58Check")
    if len(payload) != 21 or payload[0] != TRON_PREFIX:
        return AddressCheck(False, "TRON", "invalid", "not 21 bytes with prefix 0x41")
    return AddressCheck(True, "TRON", "tron")


def validate(address: str, network: str, *, require_eth_checksum: bool = True) -> AddressCheck:
    """Check `address` for `network`; a miss names the network it would be valid on, if any."""
    if network == "BTC":
        check = validate_btc(address)
    elif network == "ETH":
        check = validate_eth(address, require_eth_checksum)
    elif network == "TRON":
        check = validate_tron(address)
    else:
        return AddressCheck(False, network, "invalid", f"unknown network {network}")
    if not check.ok:
        elsewhere = [n for n in networks_of(address) if n != network]
        if elsewhere:
            return AddressCheck(
                False, network, "wrong-network", f"WRONG_NETWORK: valid on {', '.join(elsewhere)}, not on {network}"
            )
    return check


def networks_of(address: str) -> tuple[str, ...]:
    """Networks on which `address` is well formed (lenient on EIP-55 case)."""
    checks = (validate_btc(address), validate_eth(address, False), validate_tron(address))
    return tuple(c.network for c in checks if c.ok)


def is_whitelisted(address: str, whitelist: tuple[str, ...]) -> bool:
    """Exact match, except EVM hex which compares case-insensitively (same 20 bytes)."""
    if address in whitelist:
        return True
    if address.startswith("0x"):
        return address.lower() in {a.lower() for a in whitelist if a.startswith("0x")}
    return False
