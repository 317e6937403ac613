//! A platform per test, a client pointed at it, and the sandbox calls a test needs (the SDK
//! does not speak the sandbox API: it is not WeChat's).

#![allow(dead_code)]

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use fastreg_client::store::{MemoryStore, TokenStore};
use fastreg_client::Client;
use fastreg_platform::settings::Settings;
use fastreg_platform::testing::{self, spawn_platform};
use serde_json::{json, Value};

pub use fastreg_platform::testing::demo::{COMPONENT as C, OA};

/// The spawned platform ([`testing::Platform`]: `base`, `sandbox`, …) with the calls these
/// tests make often.
pub struct Platform(testing::Platform);

impl Deref for Platform {
    type Target = testing::Platform;

    fn deref(&self) -> &testing::Platform {
        &self.0
    }
}

pub async fn platform() -> Platform {
    platform_with(|_| {}).await
}

pub async fn platform_with(adjust: impl FnOnce(&mut Settings)) -> Platform {
    Platform(spawn_platform(adjust).await)
}

impl Platform {
    pub async fn secret(&self) -> String {
        self.component_secret().await
    }

    pub async fn verify_ticket(&self) -> String {
        self.sandbox("GET", &format!("/components/{C}/verify-ticket"), None)
            .await["component_verify_ticket"]
            .as_str()
            .unwrap()
            .into()
    }

    /// A client for the demo component with its verify ticket stored, on `store`.
    pub async fn client_on(&self, store: Arc<dyn TokenStore>) -> Client {
        let client = Client::builder(C, self.secret().await)
            .base_url(&self.base)
            .auth_domain("localhost")
            .store(store)
            .fast_register_retry_interval(Duration::from_millis(200))
            .build()
            .unwrap();
        client
            .set_verify_ticket(&self.verify_ticket().await)
            .await
            .unwrap();
        client
    }

    pub async fn client(&self) -> Client {
        self.client_on(Arc::new(MemoryStore::new())).await
    }

    /// The OA's admin authorises the component with set 27; the client exchanges the code.
    pub async fn authorize(&self, client: &Client, oa: &str) {
        let a = self
            .sandbox(
                "POST",
                "/authorizations",
                Some(json!({"component_appid": C, "authorizer_appid": oa, "permission_sets": [1, 15, 27]})),
            )
            .await;
        client
            .query_auth(a["auth_code"].as_str().unwrap())
            .await
            .unwrap();
    }

    /// The OA's admin confirms a fast registration; returns the ticket from the redirect.
    pub async fn confirm(&self, oa: &str) -> String {
        self.sandbox(
            "POST",
            "/fastregister-confirmations",
            Some(
                json!({"component_appid": C, "appid": oa, "copy_wx_verify": 1,
                        "redirect_uri": "https://localhost/cb"}),
            ),
        )
        .await["ticket"]
            .as_str()
            .unwrap()
            .into()
    }

    pub async fn token_counts(&self) -> (i64, i64) {
        let v = self
            .sandbox("GET", &format!("/components/{C}/token-counts"), None)
            .await;
        (
            v["component_access_tokens"].as_i64().unwrap(),
            v["authorizer_access_tokens"].as_i64().unwrap(),
        )
    }

    pub async fn registrations(&self, oa: &str) -> Vec<Value> {
        self.sandbox("GET", &format!("/registrations?appid={oa}"), None)
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    pub async fn fault(&self, path: &str, errcode: i64, times: u32, when: &str) {
        self.sandbox(
            "POST",
            "/faults",
            Some(json!({"path": path, "errcode": errcode, "times": times, "when": when})),
        )
        .await;
    }

    pub async fn set_delay(&self, ms: u64) {
        self.sandbox("PATCH", "/config", Some(json!({"processing_delay_ms": ms})))
            .await;
    }

    pub async fn advance(&self, seconds: i64) {
        self.sandbox("POST", "/clock/advance", Some(json!({"seconds": seconds})))
            .await;
    }
}
