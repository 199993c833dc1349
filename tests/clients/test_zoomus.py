"""Python `zoomus` (1.2.x), unchanged but for its base URLs, against Accord.

Its server-to-server token and `users/me` through the account's server app (account
`clients-acme`), then users and meetings CRUD through another server app with the write scopes, in
an account of its own (`clients-zoomus`: what it creates cannot disturb the other clients' lists, and
its requests count against their own rate limits).

zoomus fetches a Server-to-Server OAuth token in its constructor (`util.generate_token`):
`POST <oauth_uri>` with `Authorization: Basic base64(client_id:client_secret)` and the form body
`grant_type=account_credentials&account_id=<account>`, and keeps `response.json()["access_token"]`.
Both URLs are constructor arguments (`oauth_uri=`, `base_uri=`), so no transport tricks are needed
(docs/clients.md).
"""

import datetime
import secrets as random_secrets

import pytest
import requests
from zoomus import ZoomClient

from conftest import basic_credentials

SERVER_APP = "clients-server-app"
CRUD_APP = "clients-zoomus-app"


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


def _zoomus_client(accord, seed, secrets, app_id=SERVER_APP):
    app = seed.app(app_id)
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


def _answer(response, status, what):
    """The response's JSON body (None when it has none) once its status is `status`."""
    assert response.status_code == status, (
        f"{what}: expected HTTP {status}, got {response.status_code} "
        f"{response.headers.get('content-type', '(no content type)')}: {response.text[:500]!r}"
    )
    return response.json() if response.content else None


def _expect_missing(response, code, what):
    """Zoom's 404 for an object that does not exist: `{"code": code, "message": ...}`."""
    body = _answer(response, 404, what)
    assert body.get("code") == code and body.get("message"), f"{what}: expected code {code}, got {body!r}"


def _in_a_month(hour):
    """A whole-second UTC time well ahead, so the meeting is scheduled in the future whenever the
    suite runs."""
    day = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=30)
    return datetime.datetime(day.year, day.month, day.day, hour, 30, tzinfo=datetime.timezone.utc)


def _zoom_time(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_zoomus_users_create_get_list_update_delete(accord, seed, secrets):
    client = _zoomus_client(accord, seed, secrets, CRUD_APP)
    account_id = seed.app(CRUD_APP)["account_id"]
    email = f"crud-{random_secrets.token_hex(6)}@clients-zoomus.test"
    password = "Pw-" + random_secrets.token_urlsafe(12)
    secrets.remember(password)

    # POST /users {"action": "autoCreate", "user_info": {...}}: an active user with a password.
    created = _answer(
        client.user.create(
            action="autoCreate",
            user_info={"email": email, "type": 1, "first_name": "Cara", "last_name": "Created", "password": password},
        ),
        201,
        "zoomus client.user.create",
    )
    user_id = created.get("id")
    assert user_id and created.get("email") == email, f"create answered {created!r}"
    assert (created.get("first_name"), created.get("last_name"), created.get("type")) == ("Cara", "Created", 1), created

    # GET /users/{id}?id={id}, and by email.
    got = _answer(client.user.get(id=user_id), 200, "zoomus client.user.get after create")
    assert (got.get("id"), got.get("email"), got.get("status"), got.get("account_id")) == (
        user_id, email, "active", account_id,
    ), got
    by_email = _answer(client.user.get(id=email), 200, "zoomus client.user.get by email")
    assert by_email.get("id") == user_id, by_email

    # GET /users?page_size=300: the new user next to the seeded ones, and nobody else's.
    listed = _answer(client.user.list(page_size=300), 200, "zoomus client.user.list")
    emails = {u.get("email") for u in listed.get("users", [])}
    expected = {u["email"] for u in seed.users_of(account_id)} | {email}
    assert emails == expected, f"list answered {listed!r}"
    assert listed.get("total_records") == len(expected) and listed.get("next_page_token") == "", listed

    # PATCH /users/{id} (zoomus puts the id in the body too; unknown fields are ignored) → 204.
    _answer(
        client.user.update(id=user_id, first_name="Cyra", last_name="Changed", timezone="Asia/Tokyo"),
        204,
        "zoomus client.user.update",
    )
    got = _answer(client.user.get(id=user_id), 200, "zoomus client.user.get after update")
    assert (got.get("first_name"), got.get("last_name"), got.get("timezone")) == ("Cyra", "Changed", "Asia/Tokyo"), got

    # DELETE /users/{id}?id={id}&action=delete → 204; then the user is gone (404, code 1001).
    _answer(client.user.delete(id=user_id, action="delete"), 204, "zoomus client.user.delete")
    _expect_missing(client.user.get(id=user_id), 1001, "zoomus client.user.get after delete")
    listed = _answer(client.user.list(page_size=300), 200, "zoomus client.user.list after delete")
    assert email not in {u.get("email") for u in listed.get("users", [])}, listed


def test_zoomus_meetings_create_get_list_update_delete(accord, seed, secrets):
    client = _zoomus_client(accord, seed, secrets, CRUD_APP)
    owner = seed.owner_of(seed.app(CRUD_APP)["account_id"])
    topic = f"zoomus planning {random_secrets.token_hex(4)}"
    passcode = random_secrets.token_hex(5)  # Zoom allows up to 10 characters
    secrets.remember(passcode)
    start = _in_a_month(9)

    # POST /users/me/meetings; zoomus turns the datetime into yyyy-MM-ddTHH:mm:ssZ and sends
    # user_id in the body too.
    created = _answer(
        client.meeting.create(
            user_id="me", topic=topic, type=2, start_time=start, duration=45,
            timezone="Europe/Paris", agenda="Quarterly planning", password=passcode,
        ),
        201,
        "zoomus client.meeting.create",
    )
    meeting_id = created.get("id")
    assert isinstance(meeting_id, int) and 10 <= len(str(meeting_id)) <= 11, f"create answered {created!r}"
    assert (created.get("topic"), created.get("host_id"), created.get("start_time")) == (
        topic, owner["id"], _zoom_time(start),
    ), created
    assert created.get("password") == passcode and created.get("join_url"), created

    # GET /meetings/{id}?id={id}.
    got = _answer(client.meeting.get(id=meeting_id), 200, "zoomus client.meeting.get after create")
    assert (got.get("id"), got.get("topic"), got.get("type"), got.get("duration"), got.get("timezone")) == (
        meeting_id, topic, 2, 45, "Europe/Paris",
    ), got
    assert got.get("host_email") == owner["email"] and got.get("agenda") == "Quarterly planning", got

    # GET /users/me/meetings?user_id=me&type=scheduled.
    listed = _answer(client.meeting.list(user_id="me", type="scheduled", page_size=300), 200, "zoomus client.meeting.list")
    topics = {m.get("id"): m.get("topic") for m in listed.get("meetings", [])}
    assert topics.get(meeting_id) == topic, f"list answered {listed!r}"

    # PATCH /meetings/{id} (with the id in the body) → 204, and the change is what GET shows.
    new_start = _in_a_month(14)
    _answer(
        client.meeting.update(id=meeting_id, topic=topic + " (moved)", start_time=new_start, duration=60),
        204,
        "zoomus client.meeting.update",
    )
    got = _answer(client.meeting.get(id=meeting_id), 200, "zoomus client.meeting.get after update")
    assert (got.get("topic"), got.get("start_time"), got.get("duration"), got.get("agenda")) == (
        topic + " (moved)", _zoom_time(new_start), 60, "Quarterly planning",
    ), got

    # DELETE /meetings/{id}?id={id} → 204; then the meeting is gone (404, code 3001).
    _answer(client.meeting.delete(id=meeting_id), 204, "zoomus client.meeting.delete")
    _expect_missing(client.meeting.get(id=meeting_id), 3001, "zoomus client.meeting.get after delete")
    listed = _answer(client.meeting.list(user_id="me", page_size=300), 200, "zoomus client.meeting.list after delete")
    assert meeting_id not in {m.get("id") for m in listed.get("meetings", [])}, listed
