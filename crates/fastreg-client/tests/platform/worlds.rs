//! The SDK against worlds (platform.md §9): a client reaches a world by its base URL alone,
//! and what happens in one world (its clock, its tokens) leaves another's alone.

use std::sync::Arc;

use fastreg_client::store::MemoryStore;
use fastreg_client::{Client, FastRegisterOutcome};
use fastreg_platform::app::DEMO_WORLD;
use fastreg_platform::service::sandbox::SeedWorld;
use serde_json::{json, Value};

use crate::helpers::*;

/// A world of the spawned platform: its base URL and admin token.
struct World {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl World {
    async fn create(p: &Platform) -> World {
        let seed = serde_json::to_value(SeedWorld::from_toml(DEMO_WORLD).unwrap()).unwrap();
        let w = p
            .sandbox(
                "POST",
                "/worlds",
                Some(json!({"clock": {"start": 1_800_000_000, "frozen": true}, "seed": seed})),
            )
            .await;
        World {
            base: format!("{}{}", p.base, w["base_path"].as_str().unwrap()),
            token: w["admin_token"].as_str().unwrap().into(),
            http: reqwest::Client::new(),
        }
    }

    async fn sandbox(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(
                method.parse().unwrap(),
                format!("{}/sandbox/v1{path}", self.base),
            )
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "{method} {path}: {}",
            resp.status()
        );
        resp.json().await.unwrap_or(Value::Null)
    }

    /// A client of the demo component, pointed at this world and nothing else.
    async fn client(&self) -> Client {
        let c = self.sandbox("GET", &format!("/components/{C}"), None).await;
        let client = Client::builder(C, c["appsecret"].as_str().unwrap())
            .base_url(&self.base)
            .auth_domain("localhost")
            .store(Arc::new(MemoryStore::new()))
            .build()
            .unwrap();
        let t = self
            .sandbox("GET", &format!("/components/{C}/verify-ticket"), None)
            .await;
        client
            .set_verify_ticket(t["component_verify_ticket"].as_str().unwrap())
            .await
            .unwrap();
        client
    }

    async fn component_tokens_issued(&self) -> i64 {
        self.sandbox("GET", &format!("/components/{C}/token-counts"), None)
            .await["component_access_tokens"]
            .as_i64()
            .unwrap()
    }

    /// The admin authorises, the client exchanges, the admin confirms, the client registers.
    async fn walk(&self, client: &Client) -> String {
        let a = self
            .sandbox(
                "POST",
                "/authorizations",
                Some(json!({"component_appid": C, "authorizer_appid": OA,
                            "permission_sets": [1, 15, 27]})),
            )
            .await;
        client
            .query_auth(a["auth_code"].as_str().unwrap())
            .await
            .unwrap();
        let c = self
            .sandbox(
                "POST",
                "/fastregister-confirmations",
                Some(
                    json!({"component_appid": C, "appid": OA, "copy_wx_verify": 1,
                            "redirect_uri": "https://localhost/cb"}),
                ),
            )
            .await;
        match client
            .fast_register(OA, c["ticket"].as_str().unwrap())
            .await
        {
            FastRegisterOutcome::Registered(mp) => mp.appid,
            other => panic!("expected a registration, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn two_sdk_clients_walk_the_flow_in_two_worlds_at_once_with_the_same_appids() {
    let p = platform().await;
    let (a, b) = (World::create(&p).await, World::create(&p).await);
    let (ca, cb) = (a.client().await, b.client().await);

    let (mp_a, mp_b) = tokio::join!(a.walk(&ca), b.walk(&cb));

    assert_ne!(mp_a, mp_b);
    // Each world knows its own Mini Program only; the default world knows neither.
    assert_eq!(ca.linked_mini_programs(OA).await.unwrap().len(), 1);
    assert_eq!(cb.linked_mini_programs(OA).await.unwrap().len(), 1);
    assert!(ca.account_basic_info(&mp_b).await.is_err());
    assert!(p
        .sandbox("GET", "/registrations", None)
        .await
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn moving_one_worlds_clock_expires_its_clients_tokens_only() {
    let p = platform().await;
    let (a, b) = (World::create(&p).await, World::create(&p).await);
    let (ca, cb) = (a.client().await, b.client().await);
    ca.authorizer_list(0, 10).await.unwrap();
    cb.authorizer_list(0, 10).await.unwrap();
    let (before_a, before_b) = (
        a.component_tokens_issued().await,
        b.component_tokens_issued().await,
    );

    a.sandbox("POST", "/clock/advance", Some(json!({"seconds": 3 * 3600})))
        .await;
    ca.authorizer_list(0, 10).await.unwrap();
    cb.authorizer_list(0, 10).await.unwrap();

    assert_eq!(
        a.component_tokens_issued().await,
        before_a + 1,
        "A's token expired"
    );
    assert_eq!(b.component_tokens_issued().await, before_b, "B's did not");
}
