"""The paper-only demo accounts: fixed credentials every simulator accepts, the same in every run.

PAPER-ONLY. These keys are published in this repository, so they are worth nothing anywhere else:
never fund them, never register them with a real exchange. They exist so that a newcomer can trade
against `tradetape sim` or `tradetape record` (embedded simulator) without generating keys
(`eval "$(tradetape sim env)"` exports them). Fixtures never hold them: redaction removes the
headers that carry them, and `tradetape audit` flags them in any fixture.

- Kalshi: an RSA key registered with the first account of the simulator's `kalshi` section.
- Polymarket: Hardhat account #1 (a publicly known test key; the tests sign with #0) with API
  credentials the simulator holds for it at nonce 0, so create-or-derive returns exactly these,
  and an account with 1000 pUSD unless the state's `poly` section lists the address itself.
"""

from __future__ import annotations

from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KALSHI_KEY_ID = "paper-only-demo-key-0000-tradetape"
KALSHI_PRIVATE_KEY_PEM = """\
-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCWXASKHss6D5u/
2hjwymlvgPdjzM13deAkDJkUnABH0Ws/PwW8vlpfjEy3Uhz8quOTO7+SuwOrjmXC
/8FBj1AC0XTC1/koxcSzZvPxlTDKNJH4DJoV5lM/5WXdPKsg/bkYQEjGaOA8+cIp
SFRNyokUYX+YU9HOEQHzxGiPb6fiJgWOx3nj2+6o3U9/SnUFsaszKMeURXyjc1Cy
ljpYFq9X2dZbJgnjA7e5PAhU3lwK0k9RhBWCMu1zz3S+qYTW38AY6i/vbSzOs2yj
A+U4ImOOaqR+fy/QN/P0MuGx7bSWfy0ba+g0DI+7MHLVQdzLsK6nfZjnzR4kbjww
P++aUQYPAgMBAAECggEAPV8lwzK6hOJmEjL1RyN3Ubn0QFoR65bDfDNgMFdUjfve
qJwSvW18+c8MaS8tAbzG0wvqL/wBjX677pHx0c6rO9s+q2D4JDpFBW0aWRsqJP68
LeEG67VteYEqyNjAiODHMizbB5E7JehT5gHN10q6FQWOzSA5XMD4aQVcIF/UyKtX
9OVkZ8718bn+zHtBSsZQOJBIT0Ut6SFbn4ZYICTgaPtWzmNDJwQhzgmnWfzzh3Yz
jyYsujeDGa1d9HpZuHnIQbFbStTAG9ptu2kFulca+7hwD5xbQH1uiGUsJCE3D3ck
n7/+CGY6K1uLmirvEniz3DWb+2y4LUqnNgx3w/HVUQKBgQDN0jtORGprtM20UNop
WCOzDE15HSltmqcLAOnrf1Ee2bnzpWLyyJgDL18rJfl8w5nWUYsylKxxDwVAMUjB
gxrQ4u8TMAGQgQ9uS/fwvDARyBHoo5SE9Rq715apY8v9rV7BS1u6S+MNAxs+rZaE
sUa4zDmC0pKKomYoEcCnpy823QKBgQC7BEqLnlbe6lacenaEsj9okqY91jP0GeWp
/9KhR2R2AQbVRrXF6GoNIwcX1QcoKPtPW2hNej3f5GSc2T8riaJv0Z0MSQ6ZchQQ
Mwlq6R08+wuLJJVQJHjQeCQ0scM1P56EDgiBlYMoZod7CKg2YkSw9lXTz0iqzSsB
LsnfRKKD2wKBgApgVu0TNepIKzaz/MuozePw8tbwSW5lJZbAbQqaWJSdlWpbJCnp
QwCmGr4qI/HOSqsrYUEjja4Fe9ZIpcpbubZeOn9VJD8MwqJk4hMY6bN7yqtX090A
HmDp9YaEqXwYiXZlPjKeMMwvI+h9B+GYrmASq7OUuh6TIWNTwcqx+wdhAoGAU6Lm
p6wHU6ffVhmaeVux6dVzzUHHeEpAoJdNHl1sOy3YXXdDAaAgFYHtwSW/DqHNSj8p
1URu+XsN1+t8Sb9CytkmcAEYK12ORXRdqNdaARSQpAiXUgENmsWwA3TgRScPgCU6
fqFbx6yauFY1zCSEbdOsrI4OBHy+18eR9myedXMCgYBGNyxqKSsvl9NZhf5pA6KE
GUGrgSIx2NLng4XrmxptdkyvUw0wjmgNP+OTowzBbKZYeAT8t/LipsuhGNvG8uF6
ltc4ncOqmk8g2eQyJxVtBAUAOtyUIBHwFESEusHOpfKlQaYnvWUnZ/uiGNF9wwtg
8zBjt3D4tw45IGyvPyceNQ==
-----END PRIVATE KEY-----
"""

POLY_PRIVATE_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # Hardhat #1, public
POLY_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
POLY_BALANCE = "1000"
POLY_API_NONCE = 0
POLY_API_KEY = "00000000-0000-4000-8000-00000000dea0"
POLY_API_SECRET = "dHJhZGV0YXBlIHBhcGVyLW9ubHkgZGVtbyBzZWNyZXQ="  # base64 of "tradetape paper-only demo secret"
POLY_API_PASSPHRASE = "paper-only-demo-passphrase"


@cache
def kalshi_private_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(KALSHI_PRIVATE_KEY_PEM.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@cache
def kalshi_public_pem() -> str:
    return (
        kalshi_private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
