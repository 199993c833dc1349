"""Python `zoomus` (1.2.x), unchanged but for its base URLs, against Accord.

zoomus fetches a Server-to-Server OAuth token in its constructor (`util.generate_token`):
`POST <oauth_uri>` with `Authorization: Basic base64(client_id:client_secret)` and the form body
`grant_type=account_credentials&account_id=<account>`, and keeps `response.json()["access_token"]`.
Both URLs are constructor arguments (`oauth_uri=`, `base_uri=`), so no transport tricks are needed
(docs/clients.md).
"""

import pytest
import requests
from zoomus import ZoomClient

from conftest import basic_credentials

SERVER_APP = "clients-server-app"


def _explain_token_failure(accord, app, secrets, problem):
    """zoomus swallows token errors (it keeps `None`, or dies decoding a non-JSON body): repeat
    exactly the request it sends, so the failure says what the server answered."""
    response = requests.post(
        accord.token_url,
        data={"grant_type": "account_credentials", "account_id": app["account_id"]},
        headers={"Authorization": "Basic " + basic_credentials(app["client_id"], app["client_secret"])},
        timeout=15,
    )
    try:
        secrets.remember(response.json().get("access_token"))
    except ValueError:
        pass
    return (
        f"zoomus got no access token ({problem}).\n"
        f"It sent: POST {accord.token_url} with Authorization: Basic <client_id:client_secret>, "
        f"Content-Type: application/x-www-form-urlencoded, "
        f"body grant_type=account_credentials&account_id={app['account_id']}; "
        f"it expects HTTP 200 with a JSON object holding access_token.\n"
        f"The same request now gets: HTTP {response.status_code} "
        f"{response.headers.get('content-type', '(no content type)')}: {response.text[:500]!r}"
    )


def _zoomus_client(accord, seed, secrets):
    app = seed.app(SERVER_APP)
    try:
        client = ZoomClient(
            app["client_id"],
            app["client_secret"],
            app["account_id"],
            base_uri=f"{accord.url}/v2",
            oauth_uri=accord.token_url,
        )
    except ValueError as error:  # requests' JSONDecodeError: the token answer was not JSON
        pytest.fail(_explain_token_failure(accord, app, secrets, f"{type(error).__name__}: {error}"))
    token = client.config["token"]
    secrets.remember(token)
    if not token:
        pytest.fail(_explain_token_failure(accord, app, secrets, "its token is None"))
    return client


def _expect_owner(response, owner, what):
    assert response.status_code == 200, (
        f"{what}: expected 200, got {response.status_code}: {response.text[:500]!r}"
    )
    body = response.json()
    assert body.get("id") == owner["id"], f"{what}: expected the account owner, got {body!r}"
    assert body.get("email") == owner["email"], f"{what}: {body!r}"


def test_zoomus_account_credentials_token_then_users_me_returns_the_account_owner(accord, seed, secrets):
    client = _zoomus_client(accord, seed, secrets)
    owner = seed.owner_of(seed.app(SERVER_APP)["account_id"])

    # zoomus sends GET <base_uri>/users/me?id=me with the bearer token it fetched itself.
    response = client.user.get(id="me")

    _expect_owner(response, owner, "zoomus client.user.get(id='me')")


def test_zoomus_fetching_a_second_token_leaves_the_first_one_valid(accord, seed, secrets):
    client = _zoomus_client(accord, seed, secrets)
    owner = seed.owner_of(seed.app(SERVER_APP)["account_id"])
    first = client.config["token"]

    client.refresh_token()  # zoomus runs its own account_credentials request again
    second = client.config["token"]
    secrets.remember(second)

    assert second and second != first, "zoomus' second token request got no new token"
    _expect_owner(client.user.me(), owner, "zoomus client.user.me() with the second token")
    # oauth.md: any number of valid access tokens coexist for one grant, server grants included.
    response = requests.get(
        f"{accord.url}/v2/users/me", headers={"Authorization": f"Bearer {first}"}, timeout=15
    )
    _expect_owner(response, owner, "GET /v2/users/me with zoomus' first token")
