"""The publicly known paper-only keys this project ships, recognised by fingerprint.

The simulator's demo accounts (simulator/demo_accounts.py) and Hardhat's public test keys are
published on purpose: in docs and code `tradetape audit` lets them stand. A fixture never holds a
key, whoever's it is, so there they are flagged like any other. The proxy does not import the
simulator; a test checks these fingerprints against the simulator's keys.
"""

from __future__ import annotations

import hashlib
import re

_NOISE = re.compile(r"\s|\\n")  # whitespace, and the \n escapes of a PEM inside a JSON string or one env line
_HEX_KEY = re.compile(r"^(?:0x)?[0-9a-fA-F]{64}$")

# sha256 of the key text without whitespace (hex keys: lower case, no 0x)
PAPER_ONLY = frozenset(
    {
        "3cb1a56b1d1da090ab017cec77cbe0f79d66e92570f50361000fceca3d4095a9",  # demo Kalshi RSA private key
        "74cc46391574366a3ca78e94ab0680bcef66eb583f4ade8de5e793cba18a62e8",  # demo Kalshi RSA public key
        "8335c55334821eefd4334369ff9c04a8594f161013cf9d87f58802d87297837e",  # demo Polymarket key (Hardhat #1)
        "bc1a50966c9e6486bc4ebf880b51611a2a97fcb8e7a6976e9b81a9e3e8ca0e3c",  # Hardhat #0, the tests' Polymarket key
    }
)


def fingerprint(text: str) -> str:
    """sha256 of a PEM block or hex key, the same however it is wrapped, escaped or cased."""
    text = _NOISE.sub("", text)
    if _HEX_KEY.match(text):
        text = text.lower().removeprefix("0x")
    return hashlib.sha256(text.encode()).hexdigest()


def is_paper_only(text: str) -> bool:
    return fingerprint(text) in PAPER_ONLY
