//! Two `fastreg serve` processes on one PostgreSQL database (`FASTREG_TEST_PG`), under
//! contested load: the rules of spec §5 hold across the instances exactly, and credentials
//! issued by one are honoured by the other. Skipped, with the reason printed, without
//! `FASTREG_TEST_PG`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::common;

const ADMIN: &str = "instances-test-admin-token";
const C: &str = "wxc0ffee0000000001";

struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `fastreg serve` on `db` and waits for its banner's first line (it listens then).
fn start(db: &str, dir: &std::path::Path) -> Instance {
    let mut child = common::fastreg()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--db",
            db,
            "--admin-token",
            ADMIN,
        ])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("fastreg starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines
        .next()
        .expect("a banner line")
        .expect("stdout is text");
    let base = first
        .strip_prefix("fastreg platform listening on ")
        .unwrap_or_else(|| panic!("unexpected banner {first:?}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    std::thread::spawn(move || lines.for_each(drop));
    Instance { child, base }
}

struct Api {
    http: reqwest::Client,
}

impl Api {
    async fn sandbox(&self, at: &Instance, method: &str, path: &str, body: Option<Value>) -> Value {
        common::sandbox_ok(&self.http, &at.base, ADMIN, method, path, body).await
    }

    /// A WeChat-compatible call: (HTTP status, JSON answer).
    async fn wx(&self, at: &Instance, path_and_query: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path_and_query}", at.base))
            .json(&body)
            .send()
            .await
            .expect("call sent");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("errcode JSON"))
    }
}

fn errcode(v: &Value) -> i64 {
    v.get("errcode").and_then(Value::as_i64).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_database_keep_every_rule_and_honour_each_others_tokens() {
    let Some(scratch) = common::scratch_postgres() else {
        return;
    };
    let db = scratch.url();
    let dir = tempfile::tempdir().unwrap();
    // A seeds the new database; B starts on a seeded one.
    let a = start(db, dir.path());
    let b = start(db, dir.path());
    let api = Api {
        http: reqwest::Client::new(),
    };
    // The component's token from A (its verify ticket read through B); every later credential
    // is used on the other instance.
    let ct = api.component_token(&a, &b).await;

    // An entity with room for 4 more Mini Programs, 12 OAs of it with 3 tickets each, and an
    // uncapped OA with 10 tickets (its monthly quota is 5).
    let capped = api
        .sandbox(
            &a,
            "POST",
            "/entities",
            Some(json!({"name": "Contested Co.", "type": "enterprise", "mini_program_cap": 4})),
        )
        .await;
    let open = api
        .sandbox(
            &b,
            "POST",
            "/entities",
            Some(json!({"name": "Open Co.", "type": "enterprise"})),
        )
        .await;
    let mut oas: Vec<(String, usize)> = (0..12).map(|_| (String::new(), 3)).collect();
    oas.push((String::new(), 10));
    let mut calls = Vec::new(); // (oa, token, ticket)
    for (i, (oa, tickets)) in oas.iter_mut().enumerate() {
        let (creator, other) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let entity = if *tickets == 10 { &open } else { &capped };
        let created = api
            .sandbox(
                creator,
                "POST",
                "/official-accounts",
                Some(json!({"nickname": format!("OA {i}"), "entity_id": entity["id"], "verified": true})),
            )
            .await;
        *oa = created["appid"].as_str().unwrap().to_string();
        let code = api
            .sandbox(
                creator,
                "POST",
                "/authorizations",
                Some(json!({"component_appid": C, "authorizer_appid": *oa, "permission_sets": [1, 27]})),
            )
            .await;
        // A's component token, exchanged on B (or the reverse): honoured across instances.
        let (status, auth) = api
            .wx(
                other,
                &format!("/cgi-bin/component/api_query_auth?component_access_token={ct}"),
                json!({"component_appid": C, "authorization_code": code["auth_code"]}),
            )
            .await;
        assert_eq!((status, errcode(&auth)), (200, 0), "{auth}");
        let token = auth["authorization_info"]["authorizer_access_token"]
            .as_str()
            .unwrap()
            .to_string();
        for _ in 0..*tickets {
            let t = api
                .sandbox(
                    other,
                    "POST",
                    "/fastregister-confirmations",
                    Some(
                        json!({"component_appid": C, "appid": *oa, "copy_wx_verify": 1,
                                "redirect_uri": "http://localhost/cb"}),
                    ),
                )
                .await;
            calls.push((
                oa.clone(),
                token.clone(),
                t["ticket"].as_str().unwrap().to_string(),
            ));
        }
    }

    // Every ticket is sent to both instances at once, three times: 3 × 2 × 46 calls.
    let mut fired = Vec::new();
    let api_ref = &api;
    for _ in 0..3 {
        for (oa, token, ticket) in &calls {
            for at in [&a, &b] {
                let api = api_ref;
                fired.push(async move {
                    let (status, v) = api
                        .wx(
                            at,
                            &format!("/cgi-bin/account/fastregister?access_token={token}"),
                            json!({"ticket": ticket}),
                        )
                        .await;
                    (oa.clone(), ticket.clone(), status, v)
                });
            }
        }
    }
    let answers = join_all(fired).await;

    let mut by_code: BTreeMap<i64, usize> = BTreeMap::new();
    let mut mp_of_ticket: HashMap<String, String> = HashMap::new();
    let mut oa_of_mp: HashMap<String, String> = HashMap::new();
    for (oa, ticket, status, v) in &answers {
        assert_eq!(*status, 200, "{v}");
        *by_code.entry(errcode(v)).or_default() += 1;
        if errcode(v) == 0 {
            let mp = v["appid"].as_str().unwrap().to_string();
            // One Mini Program per ticket, whichever instance answered.
            if let Some(prev) = mp_of_ticket.insert(ticket.clone(), mp.clone()) {
                assert_eq!(prev, mp, "ticket {ticket} answered two Mini Programs");
            }
            oa_of_mp.insert(mp, oa.clone());
        }
    }
    let allowed: HashSet<i64> = [0, 61053, 61055, 61057, 61058].into();
    assert!(
        by_code.keys().all(|c| allowed.contains(c)),
        "unexpected errcodes: {by_code:?}"
    );
    let uncapped_oa = &oas[12].0;
    let capped_mps = oa_of_mp.values().filter(|oa| *oa != uncapped_oa).count();
    let uncapped_mps = oa_of_mp.values().filter(|oa| *oa == uncapped_oa).count();
    assert_eq!(
        capped_mps, 4,
        "the entity's cap across instances: {by_code:?}"
    );
    assert_eq!(
        uncapped_mps, 5,
        "the OA's monthly quota across instances: {by_code:?}"
    );

    // The database agrees, read through either instance; nothing is left in progress.
    let regs = api
        .sandbox(&b, "GET", "/registrations?limit=1000", None)
        .await;
    let regs = regs.as_array().expect("a list");
    let succeeded: Vec<&Value> = regs.iter().filter(|r| r["status"] == "succeeded").collect();
    assert_eq!(succeeded.len(), 9, "{regs:?}");
    assert!(
        regs.iter().all(|r| r["status"] != "in_progress"),
        "{regs:?}"
    );
    for r in &succeeded {
        let mp = r["mp_appid"].as_str().unwrap();
        assert_eq!(
            mp_of_ticket
                .get(r["ticket"].as_str().unwrap())
                .map(String::as_str),
            Some(mp),
            "every success in the database was answered, with its appid"
        );
    }

    // An authorizer token issued on one instance works on the other.
    let (_, linked) = api
        .wx(
            &b,
            &format!("/cgi-bin/wxopen/wxamplinkget?access_token={}", calls[0].1),
            json!({}),
        )
        .await;
    assert_eq!(errcode(&linked), 0, "{linked}");

    // A registration in progress on A holds its ticket (61058) and its OA (61057) on B.
    for at in [&a, &b] {
        api.sandbox(
            at,
            "PATCH",
            "/config",
            Some(json!({"processing_delay_ms": 600})),
        )
        .await;
    }
    let oa = api
        .sandbox(
            &b,
            "POST",
            "/official-accounts",
            Some(json!({"nickname": "OA in progress", "entity_id": open["id"], "verified": true})),
        )
        .await;
    let oa = oa["appid"].as_str().unwrap().to_string();
    let code = api
        .sandbox(
            &b,
            "POST",
            "/authorizations",
            Some(json!({"component_appid": C, "authorizer_appid": oa, "permission_sets": [27]})),
        )
        .await;
    let (_, auth) = api
        .wx(
            &a,
            &format!("/cgi-bin/component/api_query_auth?component_access_token={ct}"),
            json!({"component_appid": C, "authorization_code": code["auth_code"]}),
        )
        .await;
    let token = auth["authorization_info"]["authorizer_access_token"]
        .as_str()
        .expect("a token")
        .to_string();
    let mut tickets = Vec::new();
    for _ in 0..2 {
        let t = api
            .sandbox(
                &a,
                "POST",
                "/fastregister-confirmations",
                Some(
                    json!({"component_appid": C, "appid": oa, "copy_wx_verify": 1,
                            "redirect_uri": "http://localhost/cb"}),
                ),
            )
            .await;
        tickets.push(t["ticket"].as_str().unwrap().to_string());
    }
    let register = |at: &'static str, ticket: String| {
        let (api, a, b, token) = (&api, &a, &b, token.clone());
        async move {
            let at = if at == "a" { a } else { b };
            api.wx(
                at,
                &format!("/cgi-bin/account/fastregister?access_token={token}"),
                json!({"ticket": ticket}),
            )
            .await
            .1
        }
    };
    let (on_a, (same_ticket_on_b, other_ticket_on_b)) =
        tokio::join!(register("a", tickets[0].clone()), async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            tokio::join!(
                register("b", tickets[0].clone()),
                register("b", tickets[1].clone())
            )
        });
    assert_eq!(errcode(&on_a), 0, "{on_a}");
    assert_eq!(errcode(&same_ticket_on_b), 61058, "{same_ticket_on_b}");
    assert_eq!(errcode(&other_ticket_on_b), 61057, "{other_ticket_on_b}");

    // The sandbox clock moved on A reaches B through the database: B then finds the tokens
    // issued before expired.
    let moved = api
        .sandbox(
            &a,
            "POST",
            "/clock/advance",
            Some(json!({"seconds": 3 * 3600})),
        )
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while api.sandbox(&b, "GET", "/clock", None).await["offset"] != moved["offset"] {
        assert!(
            std::time::Instant::now() < deadline,
            "B's clock never moved"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, expired) = api
        .wx(
            &b,
            &format!("/cgi-bin/wxopen/wxamplinkget?access_token={token}"),
            json!({}),
        )
        .await;
    assert_eq!(errcode(&expired), 42001, "{expired}");

    eprintln!(
        "two instances: {} contested calls, answers by errcode {by_code:?}, {} Mini Programs",
        answers.len(),
        oa_of_mp.len()
    );
}

/// One OA, authorised, with its token; tickets are issued on demand.
struct Oa {
    appid: String,
    token: String,
}

impl Api {
    /// An OA of a new entity, authorised through `at`, its authorizer token obtained on `at`.
    async fn oa(&self, at: &Instance, ct: &str) -> Oa {
        let entity = self
            .sandbox(
                at,
                "POST",
                "/entities",
                Some(json!({"name": "Coherent Co.", "type": "enterprise"})),
            )
            .await;
        let created = self
            .sandbox(
                at,
                "POST",
                "/official-accounts",
                Some(
                    json!({"nickname": "Coherent OA", "entity_id": entity["id"], "verified": true}),
                ),
            )
            .await;
        let appid = created["appid"].as_str().unwrap().to_string();
        let code = self
            .sandbox(
                at,
                "POST",
                "/authorizations",
                Some(json!({"component_appid": C, "authorizer_appid": appid, "permission_sets": [1, 27]})),
            )
            .await;
        let (_, auth) = self
            .wx(
                at,
                &format!("/cgi-bin/component/api_query_auth?component_access_token={ct}"),
                json!({"component_appid": C, "authorization_code": code["auth_code"]}),
            )
            .await;
        let token = auth["authorization_info"]["authorizer_access_token"]
            .as_str()
            .expect("a token")
            .to_string();
        Oa { appid, token }
    }

    async fn ticket(&self, at: &Instance, oa: &Oa) -> String {
        let t = self
            .sandbox(
                at,
                "POST",
                "/fastregister-confirmations",
                Some(
                    json!({"component_appid": C, "appid": oa.appid, "copy_wx_verify": 1,
                            "redirect_uri": "http://localhost/cb"}),
                ),
            )
            .await;
        t["ticket"].as_str().unwrap().to_string()
    }

    async fn register(&self, at: &Instance, oa: &Oa, ticket: &str) -> Value {
        self.wx(
            at,
            &format!("/cgi-bin/account/fastregister?access_token={}", oa.token),
            json!({ "ticket": ticket }),
        )
        .await
        .1
    }

    /// Three refusals of a ticket nobody issued, for `oa` on `at`: `at`'s view then holds
    /// what its checks read about the OA.
    async fn warm(&self, at: &Instance, oa: &Oa) {
        for _ in 0..3 {
            let v = self
                .register(at, oa, "no-such-ticket-0000000000000000")
                .await;
            assert_eq!(errcode(&v), 61058, "{v}");
        }
    }

    /// The component token, from `at`, with the verify ticket read through `other`.
    async fn component_token(&self, at: &Instance, other: &Instance) -> String {
        let comp = self
            .sandbox(at, "GET", &format!("/components/{C}"), None)
            .await;
        let vt = self
            .sandbox(
                other,
                "GET",
                &format!("/components/{C}/verify-ticket"),
                None,
            )
            .await;
        let (_, tok) = self
            .wx(
                at,
                "/cgi-bin/component/api_component_token",
                json!({"component_appid": C, "component_appsecret": comp["appsecret"],
                       "component_verify_ticket": vt["component_verify_ticket"]}),
            )
            .await;
        tok["component_access_token"]
            .as_str()
            .expect("a token")
            .to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_never_answers_from_state_older_than_a_write_another_instance_answered_before()
{
    let Some(scratch) = common::scratch_postgres() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = start(scratch.url(), dir.path());
    let b = start(scratch.url(), dir.path());
    let api = Api {
        http: reqwest::Client::new(),
    };
    let ct = api.component_token(&a, &b).await;
    let oa = api.oa(&a, &ct).await;

    // B remembers what its checks read about the OA (its view answers the next ones).
    api.warm(&b, &oa).await;
    // A ticket issued through A and registered on A is replayed by B at once, not refused as
    // unknown nor registered again.
    let first = api.ticket(&a, &oa).await;
    let on_a = api.register(&a, &oa, &first).await;
    assert_eq!(errcode(&on_a), 0, "{on_a}");
    let on_b = api.register(&b, &oa, &first).await;
    assert_eq!(
        (errcode(&on_b), &on_b["appid"], &on_b["authorization_code"]),
        (0, &on_a["appid"], &on_a["authorization_code"]),
        "B replays A's success: {on_b}"
    );
    // A ticket issued through A is known to B at once.
    let second = api.ticket(&a, &oa).await;
    let on_b = api.register(&b, &oa, &second).await;
    assert_eq!(errcode(&on_b), 0, "B registers a ticket A issued: {on_b}");
    // The quota used on A is refused on B at once (B counted 0, then 2, before).
    for _ in 0..3 {
        let t = api.ticket(&a, &oa).await;
        let v = api.register(&a, &oa, &t).await;
        assert_eq!(errcode(&v), 0, "{v}");
    }
    let sixth = api.ticket(&a, &oa).await;
    let on_b = api.register(&b, &oa, &sixth).await;
    assert_eq!(errcode(&on_b), 61055, "B sees the quota A used: {on_b}");
    // A revocation through A: B answers what A answers, at once.
    api.sandbox(
        &a,
        "POST",
        "/authorizations/revoke",
        Some(json!({"component_appid": C, "authorizer_appid": oa.appid})),
    )
    .await;
    let on_b = api.register(&b, &oa, &sixth).await;
    let on_a = api.register(&a, &oa, &sixth).await;
    assert_ne!(
        errcode(&on_a),
        61055,
        "the revocation is checked first: {on_a}"
    );
    assert_eq!(errcode(&on_b), errcode(&on_a), "B: {on_b}, A: {on_a}");
}

/// What `/readyz` of `at` says of the instance being alone on its database.
async fn alone(api: &Api, at: &Instance) -> bool {
    let v: Value = api
        .http
        .get(format!("{}/readyz", at.base))
        .send()
        .await
        .expect("readyz answers")
        .json()
        .await
        .expect("readyz is JSON");
    v["alone"]
        .as_bool()
        .unwrap_or_else(|| panic!("readyz of a PostgreSQL instance says whether it is alone: {v}"))
}

/// Waits up to 5 s for `at` to say it is (or is not) alone; whether it did.
async fn becomes_alone(api: &Api, at: &Instance, want: bool) -> bool {
    for _ in 0..100 {
        if alone(api, at).await == want {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_instance_answers_from_memory_and_still_sees_at_once_what_a_newcomer_writes() {
    let Some(scratch) = common::scratch_postgres() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let api = Api {
        http: reqwest::Client::new(),
    };
    let a = start(scratch.url(), dir.path());
    assert!(becomes_alone(&api, &a, true).await, "A alone says so");
    let ct = api.component_token(&a, &a).await;
    let oa = api.oa(&a, &ct).await;
    // A's view now answers for the OA, without asking the database.
    api.warm(&a, &oa).await;

    // B's first writes, right after it starts, are seen by A at once: a success on B is
    // replayed by A, and a ticket issued through B is known to A.
    let b = start(scratch.url(), dir.path());
    let first = api.ticket(&b, &oa).await;
    let on_b = api.register(&b, &oa, &first).await;
    assert_eq!(errcode(&on_b), 0, "{on_b}");
    let on_a = api.register(&a, &oa, &first).await;
    assert_eq!(
        (errcode(&on_a), &on_a["appid"]),
        (0, &on_b["appid"]),
        "A replays B's success: {on_a}"
    );
    let second = api.ticket(&b, &oa).await;
    let on_a = api.register(&a, &oa, &second).await;
    assert_eq!(errcode(&on_a), 0, "A registers a ticket B issued: {on_a}");
    assert!(!alone(&api, &a).await, "A knows B is there");
    assert!(!alone(&api, &b).await, "B knows A is there");

    // B gone, A is alone again, and B's last writes are still seen.
    let third = api.ticket(&b, &oa).await;
    let on_b = api.register(&b, &oa, &third).await;
    assert_eq!(errcode(&on_b), 0, "{on_b}");
    drop(b);
    assert!(becomes_alone(&api, &a, true).await, "A alone again says so");
    let on_a = api.register(&a, &oa, &third).await;
    assert_eq!(
        (errcode(&on_a), &on_a["appid"]),
        (0, &on_b["appid"]),
        "A replays what B registered before it left: {on_a}"
    );
}
