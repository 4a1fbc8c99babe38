import os
import tempfile


# Tests must never reach a real exchange: drop any base URL or credential a developer has exported.
for _name in (
    "KALSHI_BASE_URL",
    "POLY_CLOB_URL",
    "KALSHI_API_KEY_ID",
    "KALSHI_PRIVATE_KEY_PATH",
    "KALSHI_PRIVATE_KEY",
    "POLY_PRIVATE_KEY",
    "POLY_API_KEY",
    "POLY_API_SECRET",
    "POLY_API_PASSPHRASE",
    "CAPTURE_DIR",
    "CAPTURE_FILTER",
):
    os.environ.pop(_name, None)

# Proxies started by the CLI in tests write their admin token here, not into the developer's home.
os.environ["TRADETAPE_ADMIN_TOKEN_FILE"] = os.path.join(tempfile.mkdtemp(prefix="tradetape-test-"), "admin-token")
