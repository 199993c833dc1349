"""Fixtures of the real-client suite: where Accord runs, what tests/clients/seed.json holds, and
the list of every secret the suite handles.

Run it through scripts/client-tests: that starts Accord on the seed file (twice: as configured by
default, and with `--refresh-grace 0`), sets ACCORD_URL, ACCORD_ISSUER, ACCORD_NO_GRACE_URL,
ACCORD_NO_GRACE_ISSUER and ACCORD_SECRETS_FILE, and afterwards scans the servers' logs for every
secret written to that file.
"""

import base64
import json
import os
import pathlib

import pytest

SEED_FILE = pathlib.Path(__file__).with_name("seed.json")


def _required_env(name):
    value = os.environ.get(name, "")
    if not value:
        pytest.fail(
            f"{name} is not set: run this suite with scripts/client-tests, "
            "which starts Accord on tests/clients/seed.json and sets it",
            pytrace=False,
        )
    return value


class Accord:
    """The server under test."""

    def __init__(self, url, issuer):
        self.url = url.rstrip("/")
        self.issuer = issuer

    @property
    def token_url(self):
        return f"{self.url}/oauth/token"

    @property
    def authorize_url(self):
        return f"{self.url}/oauth/authorize"


class Secrets:
    """Appends every secret a test handles to $ACCORD_SECRETS_FILE, one per line, so the runner
    can prove none of them reached the server's log."""

    # Shorter values would match log text by chance and prove nothing.
    MIN_LENGTH = 8

    def __init__(self, path):
        self.path = path
        self.seen = set()

    def remember(self, *values):
        for value in values:
            if value is None:
                continue
            assert isinstance(value, str), f"a secret must be a string, got {type(value)}"
            assert "\n" not in value and "\r" not in value, "a secret must fit on one line"
            assert len(value) >= self.MIN_LENGTH, (
                f"a {len(value)}-character secret is too short to look for in a log"
            )
            if value not in self.seen:
                self.seen.add(value)
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(value + "\n")


def basic_credentials(client_id, client_secret):
    """The value of an `Authorization: Basic` header, as the clients build it."""
    return base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


class Seed:
    """What tests/clients/seed.json creates, looked up by the tests instead of repeated."""

    def __init__(self, data):
        self.data = data

    def user(self, email):
        for account in self.data["accounts"]:
            for user in account["users"]:
                if user["email"] == email:
                    return dict(user, account_id=account["id"])
        raise KeyError(f"no user {email} in {SEED_FILE}")

    def owner_of(self, account_id):
        for account in self.data["accounts"]:
            if account["id"] == account_id:
                return next(dict(u, account_id=account_id) for u in account["users"] if u["role"] == "owner")
        raise KeyError(f"no account {account_id} in {SEED_FILE}")

    def users_of(self, account_id):
        for account in self.data["accounts"]:
            if account["id"] == account_id:
                return [dict(u, account_id=account_id) for u in account["users"]]
        raise KeyError(f"no account {account_id} in {SEED_FILE}")

    def app(self, app_id):
        for app in self.data["apps"]:
            if app["id"] == app_id:
                production = app["credentials"]["production"]
                developer = self.user(app["developer"])
                return {
                    "client_id": production["client_id"],
                    "client_secret": production["client_secret"],
                    "redirect_uri": (production.get("redirect_uris") or [None])[0],
                    "scopes": app["scopes"],
                    "account_id": developer["account_id"],
                }
        raise KeyError(f"no app {app_id} in {SEED_FILE}")


@pytest.fixture(scope="session")
def accord():
    url = _required_env("ACCORD_URL")
    return Accord(url, os.environ.get("ACCORD_ISSUER") or url.rstrip("/"))


@pytest.fixture(scope="session")
def accord_without_grace():
    """A second server on the same database, started with `--refresh-grace 0`: there the grace
    window has passed as soon as a refresh token is rotated, so no test needs to sleep."""
    url = os.environ.get("ACCORD_NO_GRACE_URL", "")
    if not url:
        pytest.skip("ACCORD_NO_GRACE_URL is not set (scripts/client-tests starts that server)")
    return Accord(url, os.environ.get("ACCORD_NO_GRACE_ISSUER") or url.rstrip("/"))


@pytest.fixture(scope="session")
def seed():
    return Seed(json.loads(SEED_FILE.read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def secrets(seed):
    """Every password and client secret of the seed (and the Basic headers built from the client
    secrets) is handled by some test, so all of them are on the list from the start."""
    secrets = Secrets(_required_env("ACCORD_SECRETS_FILE"))
    for account in seed.data["accounts"]:
        for user in account["users"]:
            secrets.remember(user.get("password"))
    for app in seed.data["apps"]:
        for credentials in app["credentials"].values():
            if credentials.get("client_secret"):
                secrets.remember(
                    credentials["client_secret"],
                    basic_credentials(credentials["client_id"], credentials["client_secret"]),
                )
    return secrets
