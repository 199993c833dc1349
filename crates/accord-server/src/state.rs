//! The state every handler receives: one `AppState(Arc<…>)`, cheap to clone.

use std::sync::Arc;

use accord_store::Store;

/// Where the server is reachable and what it calls itself.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The base URL clients use (`--public-url`), e.g. `http://127.0.0.1:8080`.
    pub public_url: String,
    /// The OAuth issuer (`--issuer`), by default the public URL.
    pub issuer: String,
}

impl ServerConfig {
    pub fn new(public_url: impl Into<String>) -> Self {
        let public_url = public_url.into().trim_end_matches('/').to_owned();
        ServerConfig {
            issuer: public_url.clone(),
            public_url,
        }
    }
}

#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

pub struct Shared {
    pub store: Store,
    pub config: ServerConfig,
}

impl AppState {
    pub fn new(store: Store, config: ServerConfig) -> Self {
        AppState(Arc::new(Shared { store, config }))
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }
}
