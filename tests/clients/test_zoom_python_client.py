"""Python `zoom-python-client` (0.2.x), unchanged, against Accord (account `clients-zoompy`).

Its API base is a constructor argument (`api_endpoint=`). Its OAuth base is not: `ZoomAuthApiClient`
builds its own `ApiClient(oauth_base_url)` from the class attribute `oauth_base_url =
"https://zoom.us/oauth"`, with no constructor argument or environment variable. The test sets the
base URL of that one client's OAuth `ApiClient` object after construction — a data attribute, no
function replaced — so the library's own token request runs against Accord: `POST
/oauth/token?grant_type=account_credentials&account_id=…` with `Authorization: Basic`,
`Content-type: application/json` and an empty body (docs/clients.md).

It keeps the token in `use_path` (the files `access_token` and `expire_seconds`, its documented
alternative to process-wide environment variables): each test gets its own folder.

The library has methods for `GET /users/{id}`, `GET /users/{id}/meetings/` (with a trailing slash)
and `GET /meetings/{id}`; listing users and creating a meeting go through its public
`make_get_request` / `make_post_request`, as its users do for endpoints it does not wrap. Its
`make_post_request` hands `data` to `requests` unchanged and always sends `Content-type:
application/json`, so the body is passed as a JSON string.
"""

import datetime
import json
import os
import secrets as random_secrets

import pytest
import requests
from zoom_python_client.zoom_api_client import ZoomApiClient

APP = "clients-zoompy-app"


@pytest.fixture
def zoompy(accord, seed, secrets, tmp_path):
    app = seed.app(APP)
    client = ZoomApiClient(
        app["account_id"],
        app["client_id"],
        app["client_secret"],
        api_endpoint=f"{accord.url}/v2",
        use_path=str(tmp_path),
    )
    # The one URL it has no knob for (see the module docstring).
    client.authentication_client.authentication_client.api_base_url = f"{accord.url}/oauth"
    yield client
    token_file = tmp_path / "access_token"
    if token_file.exists():
        secrets.remember(token_file.read_text(encoding="utf-8"))


def _token(client, secrets):
    """The token the library fetched and stored in its `use_path` folder."""
    with open(os.path.join(client.use_path, "access_token"), encoding="utf-8") as f:
        token = f.read()
    secrets.remember(token)
    return token


def _answer(response, status, what, accord, token, method, path, body=None):
    """The JSON body once the status is `status`. The library swallows HTTP errors other than 401
    (it returns an empty `requests.Response()`), so on failure the same request is repeated to say
    what the server answered."""
    if response is not None and response.status_code == status:
        return response.json()
    again = requests.request(
        method,
        f"{accord.url}/v2{path}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        data=body,
        timeout=15,
    )
    pytest.fail(
        f"{what}: expected HTTP {status}, the library got "
        f"{getattr(response, 'status_code', None)!r}; the same request now gets HTTP {again.status_code}: "
        f"{again.text[:500]!r}"
    )


def test_zoom_python_client_fetches_its_own_token_and_lists_the_accounts_users(accord, seed, secrets, zoompy):
    account_id = seed.app(APP)["account_id"]

    # Its first request fetches a token (query-string parameters, JSON content type, empty body).
    response = zoompy.make_get_request("/users", {"page_size": 300})

    token = _token(zoompy, secrets)
    assert token, "zoom-python-client stored an empty token"
    with open(os.path.join(zoompy.use_path, "expire_seconds"), encoding="utf-8") as f:
        expires = int(f.read())  # it computes now + int(expires_in): a number is required
    assert expires > datetime.datetime.now(datetime.timezone.utc).timestamp() + 300, (
        f"the token expires too soon for the library to use it ({expires})"
    )
    listed = _answer(response, 200, "GET /users?page_size=300&", accord, token, "GET", "/users?page_size=300")
    expected = {u["email"]: u["id"] for u in seed.users_of(account_id)}
    assert {u.get("email"): u.get("id") for u in listed.get("users", [])} == expected, listed
    assert listed.get("total_records") == len(expected) and listed.get("page_size") == 300, listed

    # And one of them through the library's own method.
    owner = seed.owner_of(account_id)
    user = zoompy.users.get_user(owner["id"])
    assert (user.get("id"), user.get("email"), user.get("account_id")) == (owner["id"], owner["email"], account_id), user


def test_zoom_python_client_creates_a_meeting_then_lists_and_gets_it(accord, seed, secrets, zoompy):
    owner = seed.owner_of(seed.app(APP)["account_id"])
    topic = f"zoom-python-client sync {random_secrets.token_hex(4)}"
    day = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=30)
    start = f"{day.isoformat()}T10:00:00Z"
    body = json.dumps({"topic": topic, "type": 2, "start_time": start, "duration": 30, "timezone": "Europe/Zurich"})

    response = zoompy.make_post_request("/users/me/meetings", data=body)

    token = _token(zoompy, secrets)
    created = _answer(response, 201, "POST /users/me/meetings", accord, token, "POST", "/users/me/meetings", body)
    meeting_id = created.get("id")
    secrets.remember(created.get("password"))
    assert isinstance(meeting_id, int) and created.get("topic") == topic, created
    assert (created.get("host_id"), created.get("start_time")) == (owner["id"], start), created

    # GET /users/me/meetings/?type=scheduled&page_size=300& (the library's trailing slash).
    listed = zoompy.users.get_user_meetings("me", {"type": "scheduled", "page_size": 300})
    items = {m.get("id"): m for m in listed.get("meetings", [])}
    assert meeting_id in items, f"the new meeting is not listed: {listed!r}"
    assert (items[meeting_id].get("topic"), items[meeting_id].get("start_time")) == (topic, start), items[meeting_id]
    assert listed.get("total_records") == len(items), listed

    # GET /meetings/{id} through the library's own method.
    got = zoompy.meetings.get_meeting(str(meeting_id))
    assert (got.get("id"), got.get("topic"), got.get("duration"), got.get("host_email")) == (
        meeting_id, topic, 30, owner["email"],
    ), got
