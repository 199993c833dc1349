//! A real server for a test: the router served on `127.0.0.1:0`, and a browser-like client that
//! keeps cookies and does not follow redirects (tests look at every 303). Plus a tiny reader for
//! the forms of a page, which posts back exactly what the form contract allows.

use accord_server::webhooks::{PassReport, WebhookConfig, Worker};
use accord_server::{AppState, ConnectionLimits, ServerConfig, router, serve};
use accord_store::Store;
use accord_testkit::TestDbRef;
use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Client, Response, StatusCode, Url, redirect};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The server of one test; stopped when dropped.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`: the public URL and the issuer.
    pub base: String,
    pub store: Store,
    /// The server's state (its key ring, limits, configuration).
    pub state: AppState,
    /// The webhook delivery worker over the same store ([`test_webhook_config`]) and counting into
    /// the server's metrics, not running on
    /// its own: a test sends what is due with [`TestServer::deliver_webhooks`] after moving the
    /// clock, so nothing happens behind its back.
    pub webhooks: Worker,
    task: JoinHandle<std::io::Result<()>>,
}

/// Webhook settings for tests: private (loopback) targets allowed, everything else as deployed.
pub fn test_webhook_config() -> WebhookConfig {
    let mut config = WebhookConfig::default();
    config.sender.allow_private = true;
    config
}

impl TestServer {
    pub async fn start(db: &TestDbRef) -> TestServer {
        Self::start_with(db, |base| base.to_owned()).await
    }

    /// A server whose configured public URL is `public_url(actual base URL)`, e.g. an https
    /// URL as behind a TLS-terminating proxy.
    pub async fn start_with(db: &TestDbRef, public_url: impl Fn(&str) -> String) -> TestServer {
        Self::start_configured(db, public_url, |_| {}).await
    }

    /// A server with these connection limits (timeouts and caps).
    pub async fn start_with_limits(db: &TestDbRef, limits: ConnectionLimits) -> TestServer {
        Self::start_configured(
            db,
            |base| base.to_owned(),
            |config| config.connections = limits,
        )
        .await
    }

    /// A server whose configuration `configure` changes before it starts.
    pub async fn start_configured(
        db: &TestDbRef,
        public_url: impl Fn(&str) -> String,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        crate::live::log();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let port = listener.local_addr().expect("a local address").port();
        let base = format!("http://127.0.0.1:{port}");
        let mut config = ServerConfig::new(public_url(&base));
        configure(&mut config);
        let limits = config.connections;
        let state = AppState::new(db.store.clone(), config)
            .await
            .expect("server state");
        let task = tokio::spawn(serve(
            listener,
            router(state.clone()),
            limits,
            std::future::pending(),
        ));
        let webhooks = Worker::with_metrics(
            db.store.clone(),
            test_webhook_config(),
            state.metrics().clone(),
        )
        .expect("a webhook worker");
        TestServer {
            base,
            store: db.store.clone(),
            state,
            webhooks,
            task,
        }
    }

    /// Sends every webhook due at the test clock's now (validations first) and returns when
    /// nothing more is due: what the running worker of `accord serve` would have done by then.
    pub async fn deliver_webhooks(&self) -> PassReport {
        self.webhooks.run_once().await.expect("a webhook pass")
    }

    /// A new browser: its own cookie jar, redirects not followed.
    pub fn browser(&self) -> Browser {
        self.browser_from("127.0.0.1")
    }

    /// A new browser connecting from the loopback address `ip` (any of 127.0.0.0/8), as from
    /// another machine.
    pub fn browser_from(&self, ip: &str) -> Browser {
        Browser {
            base: Url::parse(&self.base).expect("the base URL"),
            client: Client::builder()
                .cookie_store(true)
                .redirect(redirect::Policy::none())
                .local_address(ip.parse::<std::net::IpAddr>().expect("an IP address"))
                .build()
                .expect("an HTTP client"),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A client with a cookie store, like one browser profile.
pub struct Browser {
    pub base: Url,
    pub client: Client,
}

impl Browser {
    pub fn url(&self, path_or_url: &str) -> Url {
        self.base.join(path_or_url).expect("a URL")
    }

    pub async fn get(&self, path_or_url: &str) -> Page {
        Page::read(
            self.client
                .get(self.url(path_or_url))
                .send()
                .await
                .expect("GET"),
        )
        .await
    }

    /// Posts `fields` to a form's action, as a browser submitting it.
    pub async fn post(&self, action: &str, fields: &[(String, String)]) -> Page {
        self.post_with(action, fields, HeaderMap::new()).await
    }

    pub async fn post_with(
        &self,
        action: &str,
        fields: &[(String, String)],
        headers: HeaderMap,
    ) -> Page {
        Page::read(
            self.client
                .post(self.url(action))
                .headers(headers)
                .form(fields)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    /// Follows a 303 with a GET, as a browser does.
    pub async fn follow(&self, page: &Page) -> Page {
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
        let location = page.location().expect("a Location header");
        self.get(&location).await
    }
}

/// An answer: status, headers and body.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub html: String,
}

impl Page {
    async fn read(response: Response) -> Page {
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            html: response.text().await.expect("a body"),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> Option<String> {
        self.header("location").map(str::to_owned)
    }

    /// The query parameters of the redirect, when it leads to the client.
    pub fn redirect_params(&self) -> Vec<(String, String)> {
        let location = self.location().expect("a Location header");
        Url::parse(&location)
            .expect("an absolute redirect to the client")
            .query_pairs()
            .into_owned()
            .collect()
    }

    pub fn redirect_param(&self, name: &str) -> Option<String> {
        self.redirect_params()
            .into_iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// The cookies this answer sets, as raw `Set-Cookie` values.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    /// The form holding an input or button named `name`.
    pub fn form_with(&self, name: &str) -> Form {
        forms(&self.html)
            .into_iter()
            .find(|form| form.names.iter().any(|n| n == name))
            .unwrap_or_else(|| panic!("no form with {name} in:\n{}", self.html))
    }

    pub fn has_button(&self, name: &str, value: &str) -> bool {
        forms(&self.html)
            .iter()
            .any(|form| form.buttons.iter().any(|(n, v)| n == name && v == value))
    }
}

/// A form as a browser would submit it: its hidden inputs and checked checkboxes.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    /// Hidden inputs and checked checkboxes, posted unchanged.
    pub fields: Vec<(String, String)>,
    /// Every `name=value` of its submit buttons.
    pub buttons: Vec<(String, String)>,
    /// The names of every input and button.
    pub names: Vec<String>,
    /// Every checkbox (checked or not): name and value.
    pub checkboxes: Vec<(String, String)>,
}

impl Form {
    /// The fields to post: the form's own plus `extra`.
    pub fn with(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut fields = self.fields.clone();
        fields.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        fields
    }

    /// The form's fields with the checkbox `name=value` left unchecked.
    pub fn unchecking(&self, name: &str, value: &str) -> Form {
        let mut form = self.clone();
        form.fields.retain(|(n, v)| !(n == name && v == value));
        form
    }

    /// A hidden field's value.
    pub fn field(&self, name: &str) -> String {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no field {name}"))
    }

    /// The fields with one replaced.
    pub fn replacing(&self, name: &str, value: &str) -> Vec<(String, String)> {
        self.fields
            .iter()
            .map(|(n, v)| {
                let v = if n == name {
                    value.to_owned()
                } else {
                    v.clone()
                };
                (n.clone(), v)
            })
            .collect()
    }

    pub fn without(&self, name: &str) -> Vec<(String, String)> {
        self.fields
            .iter()
            .filter(|(n, _)| n != name)
            .cloned()
            .collect()
    }
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `name="…"` in a tag.
pub fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// Every tag `<tag …>` in `html`, as its text.
pub fn tags<'a>(html: &'a str, tag: &str) -> Vec<&'a str> {
    let opening = format!("<{tag} ");
    html.match_indices(&opening)
        .filter_map(|(at, _)| html[at..].find('>').map(|end| &html[at..at + end]))
        .collect()
}

/// The forms of a page.
pub fn forms(html: &str) -> Vec<Form> {
    html.split("<form ")
        .skip(1)
        .map(|chunk| {
            let body = chunk.split("</form>").next().unwrap_or(chunk);
            let action = attribute(&format!(" {body}"), "action").unwrap_or_default();
            let mut form = Form {
                action,
                fields: Vec::new(),
                buttons: Vec::new(),
                names: Vec::new(),
                checkboxes: Vec::new(),
            };
            for input in tags(body, "input") {
                let Some(name) = attribute(input, "name") else {
                    continue;
                };
                let value = attribute(input, "value").unwrap_or_default();
                form.names.push(name.clone());
                match attribute(input, "type").as_deref() {
                    Some("hidden") => form.fields.push((name, value)),
                    Some("checkbox") => {
                        form.checkboxes.push((name.clone(), value.clone()));
                        if input.contains(" checked") {
                            form.fields.push((name, value));
                        }
                    }
                    _ => {}
                }
            }
            for button in tags(body, "button") {
                if let Some(name) = attribute(button, "name") {
                    form.names.push(name.clone());
                    form.buttons
                        .push((name, attribute(button, "value").unwrap_or_default()));
                }
            }
            form
        })
        .collect()
}
