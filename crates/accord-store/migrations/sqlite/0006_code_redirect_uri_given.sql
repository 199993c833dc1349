-- Whether the authorization request named its redirect_uri: the code exchange must then name the
-- identical one (RFC 6749 §4.1.3); when it was left out (an app with one registered URI), the
-- exchange may leave it out too. Codes issued before this migration count as not naming it — the
-- rule they were issued under — and expire within five minutes. Kept identical to
-- ../postgres/0006_code_redirect_uri_given.sql.
ALTER TABLE authorization_codes ADD COLUMN redirect_uri_given BIGINT NOT NULL DEFAULT 0;
