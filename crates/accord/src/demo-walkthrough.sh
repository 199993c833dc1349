# ═══ Walkthrough: paste these lines into bash, in order (they need bash, curl, sed, grep, mktemp) ═══
# After each command, a comment says what to expect: "#   → " and text the answer holds, in order.

# ── 1. Readiness ──
URL={DEMO_URL}; curl -s "$URL/readyz"; echo
#   → "status":"ready"
# Two helpers for what follows: a hidden field of a page's form, and the access_token of a token answer.
field() { sed -n "s/.*name=\"$1\" value=\"\([^\"]*\)\".*/\1/p" | head -n 1; }
access_token() { sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'; }
CALLBACK=http://127.0.0.1:9000/callback   # the demo apps' redirect URI: nothing needs to listen there

# ── 2. A server token: Devworks Backend (server app) trades its id and secret for one-hour tokens, no JWT keys ──
SERVER_TOKEN=$(curl -s -u devworks-backend:devworks-backend-secret -X POST "$URL/oauth/token?grant_type=account_credentials&account_id=devworks" | access_token); echo "SERVER_TOKEN ${SERVER_TOKEN:0:20}…"
#   → SERVER_TOKEN eyJ
curl -s "$URL/v2/users/me" -H "Authorization: Bearer $SERVER_TOKEN"; echo
#   → "email":"dana@devworks.test"   (a server token's "me" is its own account's owner)

# ── 3. An account install: Adam (Acme's admin) adds Meeting Sync to Acme — the browser's steps, with curl and a cookie jar ──
# The install link answers with the sign-in page; its form carries a csrf_token and the signed flow.
ADAM_JAR=$(mktemp); PAGE=$(curl -s -c "$ADAM_JAR" -b "$ADAM_JAR" "$URL/oauth/authorize?response_type=code&client_id=meeting-sync&redirect_uri=$CALLBACK&state=s1"); grep -o '<h1>[^<]*</h1>' <<<"$PAGE"
#   → <h1>Sign in</h1>
# Sign in as adam@acme.test; the 303 that follows leads back to the install page.
PAGE=$(curl -s -L -c "$ADAM_JAR" -b "$ADAM_JAR" --data-urlencode "csrf_token=$(field csrf_token <<<"$PAGE")" --data-urlencode "flow=$(field flow <<<"$PAGE")" -d email=adam@acme.test -d password=adam-demo-password "$URL/oauth/authorize/sign-in"); grep -o '<h1>[^<]*</h1>' <<<"$PAGE"
#   → <h1>Add Meeting Sync to Acme?</h1>
# Approve: the answer is a 303 to the redirect URI with ?code=…&state=s1&iss=…; keep the code.
CODE=$(curl -s -o /dev/null -w '%{redirect_url}' -c "$ADAM_JAR" -b "$ADAM_JAR" --data-urlencode "csrf_token=$(field csrf_token <<<"$PAGE")" --data-urlencode "flow=$(field flow <<<"$PAGE")" -d decision=approve "$URL/oauth/authorize/decision" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p'); echo "CODE ${CODE:?no code in the redirect}"
#   → CODE
# The app's backend exchanges the code for the installation's tokens (a confidential client: PKCE is optional).
INSTALL_TOKEN=$(curl -s -u meeting-sync:meeting-sync-secret -d grant_type=authorization_code --data-urlencode "code=$CODE" -d redirect_uri=$CALLBACK "$URL/oauth/token" | access_token); echo "INSTALL_TOKEN ${INSTALL_TOKEN:0:20}…"
#   → INSTALL_TOKEN eyJ

# ── 4. A call with the installation's token: the app itself, on the whole account ──
curl -s "$URL/v2/users" -H "Authorization: Bearer $INSTALL_TOKEN"; echo
#   → "total_records":5 … "email":"adam@acme.test" … "email":"sam@acme.test"

# ── 5. A user authorization: Ann (a member) allows Notes for Meetings (user app) for herself ──
ANN_JAR=$(mktemp); PAGE=$(curl -s -c "$ANN_JAR" -b "$ANN_JAR" "$URL/oauth/authorize?response_type=code&client_id=notes&redirect_uri=$CALLBACK&state=s2"); grep -o '<h1>[^<]*</h1>' <<<"$PAGE"
#   → <h1>Sign in</h1>
PAGE=$(curl -s -L -c "$ANN_JAR" -b "$ANN_JAR" --data-urlencode "csrf_token=$(field csrf_token <<<"$PAGE")" --data-urlencode "flow=$(field flow <<<"$PAGE")" -d email=ann@acme.test -d password=ann-demo-password "$URL/oauth/authorize/sign-in"); grep -o '<h1>[^<]*</h1>' <<<"$PAGE"
#   → <h1>Allow Notes for Meetings to use your account?</h1>
CODE=$(curl -s -o /dev/null -w '%{redirect_url}' -c "$ANN_JAR" -b "$ANN_JAR" --data-urlencode "csrf_token=$(field csrf_token <<<"$PAGE")" --data-urlencode "flow=$(field flow <<<"$PAGE")" -d decision=approve "$URL/oauth/authorize/decision" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p'); echo "CODE ${CODE:?no code in the redirect}"
#   → CODE
ANN_TOKEN=$(curl -s -u notes:notes-secret -d grant_type=authorization_code --data-urlencode "code=$CODE" -d redirect_uri=$CALLBACK "$URL/oauth/token" | access_token); echo "ANN_TOKEN ${ANN_TOKEN:0:20}…"
#   → ANN_TOKEN eyJ
# The token acts as Ann: "me" is Ann, and the meeting it creates is hers.
curl -s "$URL/v2/users/me" -H "Authorization: Bearer $ANN_TOKEN"; echo
#   → "email":"ann@acme.test" … "role_id":"2"
MEETING=$(curl -s -X POST "$URL/v2/users/me/meetings" -H "Authorization: Bearer $ANN_TOKEN" -H 'Content-Type: application/json' -d '{"topic":"Weekly with Ann","type":2,"start_time":"2030-01-07T15:00:00Z","duration":30}' | sed -n 's/.*"id":\([0-9][0-9]*\),.*/\1/p'); echo "MEETING ${MEETING:?no meeting id}"
#   → MEETING

# ── 6. A refused member ──
# Ann (still signed in, in her cookie jar) opens Meeting Sync's install link: only an admin may install it, and nothing is added.
curl -s -b "$ANN_JAR" "$URL/oauth/authorize?response_type=code&client_id=meeting-sync&redirect_uri=$CALLBACK&state=s3" | grep -o '<h1>[^<]*</h1>\|Nothing was added'
#   → <h1>An account admin must install this app</h1> … Nothing was added
# Ann's token on an admin call (list the account's users): refused, and "explain" names the failed step and the fix.
curl -s "$URL/v2/users" -H "Authorization: Bearer $ANN_TOKEN"; echo
#   → "code":4711 … "explain":{"step":"scope"
# Nor does it reach another user: Meeting Sync's install gave Ann no extra power.
curl -s "$URL/v2/users/max@acme.test" -H "Authorization: Bearer $ANN_TOKEN"; echo
#   → "code":200,"message":"No permission." … "step":"reach"

# ── 7. An assistant: Sam, Ann's assistant, authorizes Notes for Meetings too and reaches Ann's meetings ──
SAM_JAR=$(mktemp); PAGE=$(curl -s -c "$SAM_JAR" -b "$SAM_JAR" "$URL/oauth/authorize?response_type=code&client_id=notes&redirect_uri=$CALLBACK&state=s4"); grep -o '<h1>[^<]*</h1>' <<<"$PAGE"
#   → <h1>Sign in</h1>
PAGE=$(curl -s -L -c "$SAM_JAR" -b "$SAM_JAR" --data-urlencode "csrf_token=$(field csrf_token <<<"$PAGE")" --data-urlencode "flow=$(field flow <<<"$PAGE")" -d email=sam@acme.test -d password=sam-demo-password "$URL/oauth/authorize/sign-in"); grep -o '<h1>[^<]*</h1>' <<<"$PAGE"
#   → <h1>Allow Notes for Meetings to use your account?</h1>
CODE=$(curl -s -o /dev/null -w '%{redirect_url}' -c "$SAM_JAR" -b "$SAM_JAR" --data-urlencode "csrf_token=$(field csrf_token <<<"$PAGE")" --data-urlencode "flow=$(field flow <<<"$PAGE")" -d decision=approve "$URL/oauth/authorize/decision" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p'); echo "CODE ${CODE:?no code in the redirect}"
#   → CODE
SAM_TOKEN=$(curl -s -u notes:notes-secret -d grant_type=authorization_code --data-urlencode "code=$CODE" -d redirect_uri=$CALLBACK "$URL/oauth/token" | access_token); echo "SAM_TOKEN ${SAM_TOKEN:0:20}…"
#   → SAM_TOKEN eyJ
# Sam reads Ann's meeting, and schedules another one for her.
curl -s "$URL/v2/meetings/$MEETING" -H "Authorization: Bearer $SAM_TOKEN"; echo
#   → "host_email":"ann@acme.test" … "topic":"Weekly with Ann"
curl -s -X POST "$URL/v2/users/ann@acme.test/meetings" -H "Authorization: Bearer $SAM_TOKEN" -H 'Content-Type: application/json' -d '{"topic":"Planning, set up by Sam","type":2,"start_time":"2030-01-08T15:00:00Z","duration":45}'; echo
#   → "host_email":"ann@acme.test","assistant_id":"acme-sam"
# Max never made Sam his assistant, and the app holds no admin scope: refused.
curl -s "$URL/v2/users/max@acme.test/meetings" -H "Authorization: Bearer $SAM_TOKEN"; echo
#   → "code":200 … "step":"reach" … acme-sam is not an assistant of acme-max

# ── 8. An admin uninstall: Acme IT, Acme's own server app (marketplace scopes), removes Meeting Sync ──
ADMIN_TOKEN=$(curl -s -u acme-it:acme-it-secret -X POST "$URL/oauth/token?grant_type=account_credentials&account_id=acme" | access_token); echo "ADMIN_TOKEN ${ADMIN_TOKEN:0:20}…"
#   → ADMIN_TOKEN eyJ
curl -s -w 'HTTP %{http_code}\n' -X DELETE "$URL/v2/marketplace/apps/meeting-sync" -H "Authorization: Bearer $ADMIN_TOKEN"
#   → HTTP 204
# Every token of the installation stopped at once:
curl -s "$URL/v2/users" -H "Authorization: Bearer $INSTALL_TOKEN"; echo
#   → "code":124 … the app was uninstalled from this account

# ── 9. The app_deauthorized it sent ──
# The demo's terminal printed the delivery; its receiver also lists what each app got (wait=10: until one is there, at most 10 s).
curl -s "$URL/_demo/webhooks/meeting-sync?event=app_deauthorized&wait=10"
#   → "event":"app_deauthorized" … "verified":true … "account_id":"acme"
# ═══ End of the walkthrough ═══
