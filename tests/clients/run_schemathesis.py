"""Schemathesis against Accord's own `/openapi.json`, with a valid token.

    run_schemathesis.py BASE_URL

Gets a server-to-server token for the `clients-schemathesis` account (its app holds every admin
scope of the API, so every `/v2` operation is reachable), adds it to $ACCORD_SECRETS_FILE for the
log scan, then runs `st run` on BASE_URL/openapi.json with the checks the issue asks for: no server
error, every status code and content type documented, every response body valid against its
schema. Every phase runs (examples, coverage, fuzzing, and stateful sequences that follow the
document's links from created users, meetings and roles). The seed is fixed, so a run is
repeatable; the exit status is schemathesis' own.

The server is started with `--rate-limits off` (scripts/client-tests): with limits on, most
generated requests would get a (documented, valid) 429 and test nothing.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

ACCOUNT = "clients-schemathesis"
CLIENT_ID = "clients-schemathesis-app"
CLIENT_SECRET = "clients-schemathesis-app-secret-Jx58qW"  # tests/clients/seed.json
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def token(base_url):
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    request = urllib.request.Request(
        f"{base_url}/oauth/token",
        data=urllib.parse.urlencode({"grant_type": "account_credentials", "account_id": ACCOUNT}).encode(),
        headers={"Authorization": f"Basic {basic}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access_token"]


def main():
    base_url = sys.argv[1].rstrip("/")
    access_token = token(base_url)
    secrets = os.environ.get("ACCORD_SECRETS_FILE")
    if secrets:
        with open(secrets, "a", encoding="utf-8") as out:
            out.write(f"{access_token}\n{CLIENT_SECRET}\n")
    st = os.path.join(os.path.dirname(sys.executable), "st")
    command = [
        st, "run", f"{base_url}/openapi.json",
        "--header", f"Authorization: Bearer {access_token}",
        "--checks", CHECKS,
        "--max-examples", os.environ.get("ACCORD_SCHEMATHESIS_EXAMPLES", "30"),
        "--seed", "1",
        # One worker: schemathesis 4.32 can trip over its own example cache with several.
        "--workers", "1",
        "--request-timeout", "30",
        "--no-color",
    ]
    # Schemathesis keeps a cache of earlier failures in ./.schemathesis and replays them: run it in
    # a fresh folder, so every run starts from the same state and nothing lands in the checkout.
    with tempfile.TemporaryDirectory(prefix="accord-schemathesis.") as workdir:
        return subprocess.call(command, cwd=workdir)


if __name__ == "__main__":
    sys.exit(main())
