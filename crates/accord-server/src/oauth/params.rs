//! Reading OAuth requests the way real Zoom clients send them: parameters in the query string or
//! a form body (merged, the body wins), a JSON content type on an empty body, client credentials in
//! HTTP Basic (form-url-decoded, RFC 6749 §2.3.1) or in the body.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::errors::OAuthError;
use crate::throttle::ClientAddress;

/// The merged parameters and the Basic credentials of one request, and where it came from.
#[derive(Debug)]
pub struct OAuthParams {
    params: HashMap<String, String>,
    basic: Option<(String, String)>,
    client_address: ClientAddress,
}

/// How a client identified itself.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    /// `None` for a public client.
    pub secret: Option<accord_core::ids::Secret>,
    /// Whether HTTP Basic was used (a failure then answers 401 with a challenge).
    pub basic: bool,
}

/// The parameters of one source (the query string, or the body) in a new map; a parameter
/// repeated within it is refused.
fn collect(
    pairs: impl Iterator<Item = (String, String)>,
) -> Result<HashMap<String, String>, OAuthError> {
    let mut into = HashMap::new();
    for (key, value) in pairs {
        if into.contains_key(&key) {
            return Err(OAuthError::invalid_request(format!(
                "parameter {key} is repeated"
            )));
        }
        into.insert(key, value);
    }
    Ok(into)
}

fn parse_basic(value: &str) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client(true);
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
        .ok_or_else(bad)?;
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| {
        if !s.contains(['%', '+']) {
            return s.to_owned();
        }
        form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok((decode(id), decode(secret)))
}

impl<S: Send + Sync> FromRequest<S> for OAuthParams {
    type Rejection = OAuthError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let client_address = ClientAddress::from_extensions(request.extensions());
        let mut params = match request.uri().query() {
            Some(query) => collect(form_urlencoded::parse(query.as_bytes()).into_owned())?,
            None => HashMap::new(),
        };
        let basic = match request.headers().get(header::AUTHORIZATION) {
            Some(value) => Some(parse_basic(
                value
                    .to_str()
                    .map_err(|_| OAuthError::invalid_client(true))?,
            )?),
            None => None,
        };
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let body = Bytes::from_request(request, state).await.map_err(|e| {
            OAuthError::invalid_request(format!("cannot read the request body: {e}"))
        })?;
        if !body.iter().all(u8::is_ascii_whitespace) {
            let from_body = if content_type.starts_with("application/json") {
                let object: HashMap<String, serde_json::Value> = serde_json::from_slice(&body)
                    .map_err(|_| {
                        OAuthError::invalid_request(
                            "the body is not a JSON object; send application/x-www-form-urlencoded",
                        )
                    })?;
                object
                    .into_iter()
                    .map(|(key, value)| match value {
                        serde_json::Value::String(s) => (key, s),
                        other => (key, other.to_string()),
                    })
                    .collect()
            } else {
                collect(form_urlencoded::parse(&body).into_owned())?
            };
            params.extend(from_body);
        }
        Ok(OAuthParams {
            params,
            basic,
            client_address,
        })
    }
}

impl OAuthParams {
    /// A parameter; empty values count as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Where the request came from (for throttling failed client authentications).
    pub fn client_address(&self) -> &ClientAddress {
        &self.client_address
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("Missing parameter: {name}")))
    }

    /// The client's credentials: HTTP Basic first, else `client_id` (and `client_secret`) in the
    /// parameters. Both at once must agree.
    pub fn client(&self) -> Result<ClientCredentials, OAuthError> {
        if let Some((id, secret)) = &self.basic {
            if self.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_client(true));
            }
            return Ok(ClientCredentials {
                client_id: id.clone(),
                secret: Some(accord_core::ids::Secret::new(secret.clone())),
                basic: true,
            });
        }
        let client_id = self
            .get("client_id")
            .ok_or_else(|| OAuthError::invalid_client(false))?;
        Ok(ClientCredentials {
            client_id: client_id.to_owned(),
            secret: self.get("client_secret").map(accord_core::ids::Secret::new),
            basic: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_url_decoded() {
        let header = format!("Basic {}", STANDARD.encode("ms%2Dprod:s%2Decret"));
        assert_eq!(
            parse_basic(&header).unwrap(),
            ("ms-prod".into(), "s-ecret".into())
        );
        let raw = format!("Basic {}", STANDARD.encode("ms-prod:se:cret"));
        assert_eq!(
            parse_basic(&raw).unwrap(),
            ("ms-prod".into(), "se:cret".into())
        );
        assert!(parse_basic("Bearer x").is_err());
        assert!(parse_basic("Basic !!!").is_err());
    }
}
