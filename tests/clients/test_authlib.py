"""Python `authlib` (requests_client.OAuth2Session), unchanged but for its URLs, against Accord:
authorization code with PKCE S256, then refresh with rotation.

The browser part is driven exactly as console.md's form contract allows, with no browser: GET the
authorize URL, post the sign-in form (`email`, `password` and every hidden input, with the cookies
given), post the consent form (`decision=approve` and its hidden inputs), and read the code from
the 303's Location instead of following it (nothing listens on the redirect URI).
"""

from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

USER_APP = "clients-user-app"
TIMEOUT = 15


# --- The form contract, driven without a browser ------------------------------------------------


class Form:
    def __init__(self, action, method):
        self.action = action
        self.method = method
        self.fields = []  # (name, type, value, checked)
        self.buttons = []  # (name, value) of submit buttons

    def has_field(self, name):
        return any(field[0] == name for field in self.fields)

    def has_button(self, name, value):
        return (name, value) in self.buttons

    def hidden(self):
        return [(name, value) for name, kind, value, _ in self.fields if kind == "hidden"]

    def checked(self):
        return [(n, v) for n, kind, v, checked in self.fields if kind in ("checkbox", "radio") and checked]

    def describe(self):
        return f"<form action={self.action!r} method={self.method!r} fields={[f[:2] for f in self.fields]} buttons={self.buttons}>"


class FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._form = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = Form(attrs.get("action") or "", (attrs.get("method") or "get").lower())
            self.forms.append(self._form)
            return
        if self._form is None or not attrs.get("name"):
            return
        name = attrs["name"]
        if tag == "input":
            kind = (attrs.get("type") or "text").lower()
            if kind in ("submit", "image"):
                self._form.buttons.append((name, attrs.get("value") or ""))
            else:
                default = "on" if kind in ("checkbox", "radio") else ""
                value = attrs.get("value")
                self._form.fields.append((name, kind, default if value is None else value, "checked" in attrs))
        elif tag == "button" and (attrs.get("type") or "submit").lower() == "submit":
            self._form.buttons.append((name, attrs.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def describe(response):
    return (
        f"{response.request.method} {urlsplit(response.url).path} -> HTTP {response.status_code} "
        f"{response.headers.get('content-type', '')} Location={response.headers.get('location')!r} "
        f"body={response.text[:400]!r}"
    )


class Browser:
    """A cookie-keeping HTTP client that follows redirects inside Accord by hand and stops at the
    client's redirect URI."""

    def __init__(self, redirect_uri, secrets):
        self.http = requests.Session()
        self.redirect_uri = redirect_uri
        self.secrets = secrets

    def _remember_cookies(self):
        # A session cookie is a credential: it must not be logged either.
        for cookie in self.http.cookies:
            if cookie.value and len(cookie.value) >= 16:
                self.secrets.remember(cookie.value)

    def _follow(self, response):
        for _ in range(10):
            self._remember_cookies()
            location = response.headers.get("location")
            if response.status_code not in (301, 302, 303) or location is None:
                return response
            if location.startswith(self.redirect_uri):
                return response
            response = self.http.get(urljoin(response.url, location), allow_redirects=False, timeout=TIMEOUT)
        pytest.fail(f"more than 10 redirects inside Accord; last: {describe(response)}")

    def get(self, url):
        return self._follow(self.http.get(url, allow_redirects=False, timeout=TIMEOUT))

    def submit(self, page, form, data):
        assert form.method == "post", f"the form contract's forms are POSTed: {form.describe()}"
        target = urljoin(page.url, form.action) if form.action else page.url
        response = self.http.post(target, data=data, allow_redirects=False, timeout=TIMEOUT)
        assert response.status_code != 307 and response.status_code != 308, (
            f"oauth.md: 303 after POSTs, not a method-keeping redirect: {describe(response)}"
        )
        return self._follow(response)


def find_form(page, what, matches):
    assert page.status_code == 200 and "html" in page.headers.get("content-type", ""), (
        f"expected the {what} page (HTTP 200, HTML): {describe(page)}"
    )
    parser = FormParser()
    parser.feed(page.text)
    for form in parser.forms:
        if matches(form):
            return form
    pytest.fail(
        f"no {what} form on {urlsplit(page.url).path}; forms: {[f.describe() for f in parser.forms]}; "
        f"body={page.text[:600]!r}"
    )


def sign_in_and_approve(accord, authorize_url, user, redirect_uri, secrets):
    """Returns the Location of the 303 that sends the browser back to the client."""
    browser = Browser(redirect_uri, secrets)

    page = browser.get(authorize_url)
    sign_in = find_form(page, "sign-in", lambda f: f.has_field("email") and f.has_field("password"))
    page = browser.submit(
        page, sign_in, sign_in.hidden() + [("email", user["email"]), ("password", user["password"])]
    )

    consent = find_form(page, "consent", lambda f: f.has_button("decision", "approve"))
    answer = browser.submit(page, consent, consent.hidden() + consent.checked() + [("decision", "approve")])

    assert answer.status_code == 303, f"approving should answer 303 to the redirect URI: {describe(answer)}"
    location = answer.headers["location"]
    assert location.startswith(redirect_uri + "?"), f"approval redirected elsewhere: {location!r}"
    return location


# --- authlib ------------------------------------------------------------------------------------


class Client:
    """authlib's OAuth2Session for the seeded user app, with every token answer kept for
    diagnostics (through authlib's own compliance hooks) and every token remembered as a secret."""

    def __init__(self, accord, app, secrets):
        self.accord = accord
        self.app = app
        self.secrets = secrets
        self.last_answer = None
        self.session = OAuth2Session(
            client_id=app["client_id"],
            client_secret=app["client_secret"],  # client_secret_basic, authlib's default
            redirect_uri=app["redirect_uri"],
            code_challenge_method="S256",
        )
        for hook in ("access_token_response", "refresh_token_response"):
            self.session.register_compliance_hook(hook, self._keep)

    def _keep(self, response):
        self.last_answer = response
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            self.secrets.remember(body.get("access_token"), body.get("refresh_token"))
        return response

    def failure(self, sent, error):
        answer = self.last_answer
        answered = (
            f"HTTP {answer.status_code}: {answer.text[:500]!r}" if answer is not None else "(no answer)"
        )
        return f"authlib sent {sent}; it raised {type(error).__name__}: {error}; the server answered {answered}"

    def authorize(self, user):
        verifier = generate_token(64)
        self.secrets.remember(verifier)
        url, state = self.session.create_authorization_url(self.accord.authorize_url, code_verifier=verifier)
        location = sign_in_and_approve(self.accord, url, user, self.app["redirect_uri"], self.secrets)
        params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        self.secrets.remember(params.get("code"))
        return location, state, verifier, params

    def fetch_token(self, location, state, verifier):
        try:
            return self.session.fetch_token(
                self.accord.token_url, authorization_response=location, state=state, code_verifier=verifier
            )
        except OAuthError as error:
            pytest.fail(
                self.failure(
                    "POST /oauth/token (Basic client auth) grant_type=authorization_code, code, "
                    "redirect_uri, code_verifier",
                    error,
                )
            )

    def refresh(self, refresh_token=None):
        try:
            return self.session.refresh_token(self.accord.token_url, refresh_token=refresh_token)
        except OAuthError as error:
            pytest.fail(
                self.failure("POST /oauth/token (Basic client auth) grant_type=refresh_token, refresh_token", error)
            )

    def users_me(self, token):
        api = token.get("api_url")
        assert api, f"the token answer has no api_url (oauth.md): keys {sorted(token)}"
        return self.session.get(f"{api.rstrip('/')}/v2/users/me", timeout=TIMEOUT)


def expect_user(response, user, what):
    assert response.status_code == 200, f"{what}: expected 200, got {describe(response)}"
    body = response.json()
    assert body.get("id") == user["id"] and body.get("email") == user["email"], f"{what}: {body!r}"


def authorized_client(accord, seed, secrets, email):
    client = Client(accord, seed.app(USER_APP), secrets)
    location, state, verifier, _ = client.authorize(seed.user(email))
    token = client.fetch_token(location, state, verifier)
    assert token.get("refresh_token"), f"a code grant gives a refresh token: keys {sorted(token)}"
    return client, token


# --- Tests --------------------------------------------------------------------------------------


def test_authlib_code_flow_with_pkce_s256_then_refresh_reaches_users_me(accord, seed, secrets):
    admin = seed.user("admin@clients-acme.test")
    client = Client(accord, seed.app(USER_APP), secrets)

    location, state, verifier, params = client.authorize(admin)
    assert params.get("code"), f"no code in the redirect: {location!r}"
    assert params.get("state") == state, f"state not echoed: {location!r}"
    assert params.get("iss") == accord.issuer, f"iss (RFC 9207) should be {accord.issuer!r}: {location!r}"

    token = client.fetch_token(location, state, verifier)
    assert token["token_type"].lower() == "bearer", token
    assert isinstance(token.get("expires_in"), int) and token.get("expires_at"), token
    assert "user:read" in token["scope"].split(" "), token
    assert token.get("refresh_token"), f"a code grant gives a refresh token: keys {sorted(token)}"
    expect_user(client.users_me(token), admin, "GET /v2/users/me with the code grant's token")

    first_refresh = token["refresh_token"]
    refreshed = client.refresh()
    assert refreshed["access_token"] != token["access_token"], "refresh gave the same access token"
    assert refreshed.get("refresh_token") not in (None, first_refresh), "every refresh rotates the refresh token"
    expect_user(client.users_me(refreshed), admin, "GET /v2/users/me after refresh")


def test_authlib_code_exchange_with_another_code_verifier_is_refused(accord, seed, secrets):
    client = Client(accord, seed.app(USER_APP), secrets)
    location, state, _, _ = client.authorize(seed.user("member-3@clients-acme.test"))
    other_verifier = generate_token(64)
    secrets.remember(other_verifier)

    with pytest.raises(OAuthError) as refused:
        client.session.fetch_token(
            accord.token_url, authorization_response=location, state=state, code_verifier=other_verifier
        )

    assert refused.value.error == "invalid_grant", client.failure("a code with the wrong code_verifier", refused.value)


def test_authlib_replaying_a_rotated_out_refresh_token_within_grace_returns_the_same_successor(
    accord, seed, secrets
):
    owner = seed.user("owner@clients-acme.test")
    client, token = authorized_client(accord, seed, secrets, owner["email"])
    parent = token["refresh_token"]
    successor = client.refresh()["refresh_token"]

    # A lost answer: the client presents the parent again, well inside the 60 s grace window.
    replayed = client.refresh(refresh_token=parent)

    assert replayed["refresh_token"] == successor, "oauth.md: the same successor within the grace window"
    expect_user(client.users_me(replayed), owner, "GET /v2/users/me with the replay's access token")


def test_authlib_rotated_out_refresh_token_is_refused_once_its_successor_was_used(accord, seed, secrets):
    member = seed.user("member@clients-acme.test")
    client, token = authorized_client(accord, seed, secrets, member["email"])
    parent = token["refresh_token"]
    client.refresh()  # parent -> successor
    client.refresh()  # successor used: the parent is spent, grace window or not

    with pytest.raises(OAuthError) as refused:
        client.session.refresh_token(accord.token_url, refresh_token=parent)

    assert refused.value.error == "invalid_grant", client.failure("the spent parent", refused.value)
    assert client.last_answer.status_code == 400, client.failure("the spent parent", refused.value)


def test_authlib_rotated_out_refresh_token_is_refused_once_the_grace_window_has_passed_and_ends_the_family(
    accord_without_grace, seed, secrets
):
    # On the `--refresh-grace 0` server the window has passed as soon as the parent is rotated:
    # presenting it again, even with its successor unused, is reuse (oauth.md).
    user = seed.user("member-2@clients-acme.test")
    client, token = authorized_client(accord_without_grace, seed, secrets, user["email"])
    parent = token["refresh_token"]
    successor = client.refresh()["refresh_token"]

    with pytest.raises(OAuthError) as refused:
        client.session.refresh_token(accord_without_grace.token_url, refresh_token=parent)

    answer = client.last_answer
    assert refused.value.error == "invalid_grant", client.failure("the rotated-out parent", refused.value)
    assert answer.status_code == 400 and answer.json().get("reason") == "Invalid Token!", client.failure(
        "the rotated-out parent", refused.value
    )

    # Reuse revokes the whole family: the unused successor is refused too.
    with pytest.raises(OAuthError) as also_refused:
        client.session.refresh_token(accord_without_grace.token_url, refresh_token=successor)
    assert also_refused.value.error == "invalid_grant", client.failure("the successor after reuse", also_refused.value)
