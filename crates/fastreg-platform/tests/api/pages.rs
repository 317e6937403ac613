//! The admin-facing pages and the console over HTTP (the browser tests in fastreg-client
//! drive the same pages in Chromium): refusals never redirect, confirmations need the form's
//! token, output is escaped, the console needs the admin token.

use serde_json::json;

use crate::helpers::*;

const CB: &str = "https://localhost/cb?from=test";

pub(super) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(super) fn csrf(html: &str) -> String {
    let start =
        html.find(r#"name="csrf" value=""#).expect("a csrf field") + r#"name="csrf" value=""#.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

pub(super) fn errcode_on_page(html: &str) -> i64 {
    let start = html
        .find(r#"class="code">"#)
        .expect("an errcode on the page")
        + r#"class="code">"#.len();
    html[start..start + html[start..].find('<').unwrap()]
        .parse()
        .unwrap()
}

pub(super) async fn get(
    app: &TestApp,
    path_and_query: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let r = no_redirects()
        .get(format!("{}{path_and_query}", app.base))
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

fn fast_register_link(oa: &str, copy: &str, redirect: &str) -> String {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("appid", oa),
            ("component_appid", C),
            ("copy_wx_verify", copy),
            ("redirect_uri", redirect),
        ])
        .finish();
    format!("/cgi-bin/fastregisterauth?{q}")
}

#[tokio::test]
async fn fastregisterauth_shows_who_asks_for_what_with_protective_headers() {
    let app = spawn_app().await;

    let (status, headers, html) = get(&app, &fast_register_link(OA, "1", CB)).await;

    assert_eq!(status, 200);
    assert!(html.contains("Acme Official") && html.contains("Acme Trading Co., Ltd."));
    assert!(html.contains("copy_wx_verify=1") && html.contains(C));
    assert!(
        html.contains("you act as that administrator"),
        "says the tester acts as the admin"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert!(!html.contains("<script"), "works without JavaScript");
}

#[tokio::test]
async fn confirming_fastregisterauth_redirects_with_a_ticket_that_registers() {
    let app = spawn_app().await;
    let (_, _, html) = get(&app, &fast_register_link(OA, "1", CB)).await;

    let resp = no_redirects()
        .post(format!("{}/cgi-bin/fastregisterauth/confirm", app.base))
        .form(&[
            ("appid", OA),
            ("component_appid", C),
            ("copy_wx_verify", "1"),
            ("redirect_uri", CB),
            ("csrf", &csrf(&html)),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let ticket = location
        .strip_prefix("https://localhost/cb?from=test&ticket=")
        .expect(&location);
    assert_eq!(ticket.len(), 32);
    let token = app.oa_token(OA).await;
    assert_eq!(errcode(&app.fastregister(&token, ticket).await), 0);
}

#[tokio::test]
async fn a_confirmation_whose_fields_differ_from_the_page_or_lack_its_token_is_refused() {
    let app = spawn_app().await;
    let (_, _, html) = get(&app, &fast_register_link(OA, "1", CB)).await;
    let token = csrf(&html);
    let post = |form: Vec<(&'static str, String)>| {
        let url = format!("{}/cgi-bin/fastregisterauth/confirm", app.base);
        async move { no_redirects().post(url).form(&form).send().await.unwrap() }
    };
    let base = |copy: &str, redirect: &str, t: &str| {
        vec![
            ("appid", OA.to_string()),
            ("component_appid", C.to_string()),
            ("copy_wx_verify", copy.to_string()),
            ("redirect_uri", redirect.to_string()),
            ("csrf", t.to_string()),
        ]
    };

    for (what, form) in [
        ("another copy_wx_verify", base("0", CB, &token)),
        (
            "another redirect",
            base("1", "https://localhost/elsewhere", &token),
        ),
        ("no token", base("1", CB, "")),
        ("a made-up token", base("1", CB, "1.deadbeef")),
    ] {
        let resp = post(form).await;
        assert_eq!(resp.status(), 403, "{what}");
        assert!(
            resp.headers().get("location").is_none(),
            "{what}: never a redirect"
        );
    }
    assert!(app.registrations(OA).await.is_empty());
}

#[tokio::test]
async fn fastregisterauth_refusals_show_their_errcode_and_never_redirect() {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let oa = app
        .sandbox_ok(
            "POST",
            "/official-accounts",
            Some(&json!({"nickname": "No 27", "entity_id": 1, "verified": true})),
        )
        .await["appid"]
        .as_str()
        .unwrap()
        .to_string();
    app.authorize(&ct, C, &oa, &[1]).await;

    for (what, link, code) in [
        (
            "redirect off the auth domain",
            fast_register_link(OA, "1", "https://evil.com/cb"),
            61060,
        ),
        (
            "open-redirect trick",
            fast_register_link(OA, "1", "https://localhost@evil.com/cb"),
            61060,
        ),
        (
            "set 27 not granted",
            fast_register_link(&oa, "1", CB),
            61007,
        ),
        (
            "unknown OA",
            fast_register_link("wx9999999999999999", "1", CB),
            47001,
        ),
        ("copy_wx_verify=2", fast_register_link(OA, "2", CB), 47001),
        (
            "copy_wx_verify=true",
            fast_register_link(OA, "true", CB),
            47001,
        ),
        (
            "no parameters",
            "/cgi-bin/fastregisterauth".to_string(),
            47001,
        ),
    ] {
        let (status, headers, html) = get(&app, &link).await;
        assert!((400..500).contains(&status), "{what}: {status}");
        assert!(headers.get("location").is_none(), "{what}");
        assert_eq!(errcode_on_page(&html), code, "{what}");
    }
}

#[tokio::test]
async fn account_names_are_escaped_everywhere() {
    let app = spawn_app().await;
    let ct = app.component_token(C).await;
    let evil = r#"<script>alert("x")</script><img src=x onerror=alert(1)>"#;
    let oa = app
        .sandbox_ok(
            "POST",
            "/official-accounts",
            Some(&json!({"nickname": evil, "entity_id": 1, "verified": true})),
        )
        .await["appid"]
        .as_str()
        .unwrap()
        .to_string();
    app.authorize(&ct, C, &oa, &[27]).await;

    let (_, _, html) = get(&app, &fast_register_link(&oa, "1", CB)).await;

    assert!(!html.contains(evil));
    assert!(
        html.contains(
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
        ),
        "{html}"
    );
}

fn login_link(pre_auth_code: &str, extra: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.extend_pairs([
        ("component_appid", C),
        ("pre_auth_code", pre_auth_code),
        ("redirect_uri", CB),
        ("auth_type", "1"),
    ]);
    q.extend_pairs(extra.iter().copied());
    format!("/cgi-bin/componentloginpage?{}", q.finish())
}

pub(super) async fn pre_auth_code(app: &TestApp) -> String {
    let ct = app.component_token(C).await;
    app.post(
        &format!("/cgi-bin/component/api_create_preauthcode?component_access_token={ct}"),
        &json!({"component_appid": C}),
    )
    .await["pre_auth_code"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn componentloginpage_lists_accounts_then_grants_the_ticked_sets_once() {
    let app = spawn_app().await;
    let code = pre_auth_code(&app).await;

    let (_, _, list) = get(&app, &login_link(&code, &[])).await;
    assert!(list.contains("Acme Official") && list.contains("biz_appid=wx0a00000000000001"));
    let (_, _, html) = get(&app, &login_link(&code, &[("biz_appid", OA)])).await;
    assert!(html.contains(r#"name="set" value="27""#), "set 27 offered");
    let resp = no_redirects()
        .post(format!("{}/cgi-bin/componentloginpage/confirm", app.base))
        .form(&[
            ("component_appid", C),
            ("pre_auth_code", &code),
            ("redirect_uri", CB),
            ("auth_type", "1"),
            ("biz_appid", OA),
            ("set", "1"),
            ("set", "27"),
            ("csrf", &csrf(&html)),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let rest = location
        .strip_prefix("https://localhost/cb?from=test&auth_code=")
        .expect(&location);
    let (auth_code, expires) = rest.split_once("&expires_in=").unwrap();
    assert_eq!(expires, "3600");
    let auth_code: String = form_urlencoded::parse(format!("c={auth_code}").as_bytes())
        .next()
        .unwrap()
        .1
        .into();
    let ct = app.component_token(C).await;
    let info = app.query_auth(&ct, C, &auth_code).await;
    assert_eq!(
        info["authorization_info"]["func_info"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{info}"
    );
    // The pre_auth_code is spent.
    let (_, headers, again) = get(&app, &login_link(&code, &[("biz_appid", OA)])).await;
    assert_eq!(errcode_on_page(&again), 61009);
    assert!(headers.get("location").is_none());
}

#[tokio::test]
async fn componentloginpage_shows_set_27_unavailable_while_another_component_holds_it() {
    let app = spawn_app().await;
    let other = app
        .sandbox_ok(
            "POST",
            "/components",
            Some(
                &json!({"auth_domain": "localhost", "published": true, "permission_sets": [1, 27]}),
            ),
        )
        .await["appid"]
        .as_str()
        .unwrap()
        .to_string();
    let ct = app.component_token(&other).await;
    let code = app
        .post(
            &format!("/cgi-bin/component/api_create_preauthcode?component_access_token={ct}"),
            &json!({"component_appid": other}),
        )
        .await["pre_auth_code"]
        .as_str()
        .unwrap()
        .to_string();
    let link = login_link(&code, &[("biz_appid", OA)]).replace(C, &other);

    let (_, _, html) = get(&app, &link).await;

    assert!(
        !html.contains(r#"name="set" value="27""#),
        "27 cannot be ticked"
    );
    assert!(
        html.contains("unavailable") && html.contains(C),
        "and the page says who holds it"
    );
}

#[tokio::test]
async fn componentloginpage_refusals_show_their_errcode_and_never_redirect() {
    let app = spawn_app().await;
    let code = pre_auth_code(&app).await;
    let expired = pre_auth_code(&app).await;
    app.advance(1801).await;
    let fresh = pre_auth_code(&app).await;

    for (what, link, errcode) in [
        ("expired pre_auth_code", login_link(&expired, &[]), 61010),
        (
            "unknown pre_auth_code",
            login_link("preauthcode@@@nope", &[]),
            61009,
        ),
        (
            "another component",
            login_link(&fresh, &[]).replace(C, "wx9999999999999999"),
            61011,
        ),
        (
            "redirect off the domain",
            login_link(&fresh, &[]).replace("https%3A%2F%2Flocalhost", "https%3A%2F%2Fevil.com"),
            61060,
        ),
        (
            "bad auth_type",
            login_link(&fresh, &[]).replace("auth_type=1", "auth_type=9"),
            47001,
        ),
        (
            "unknown account",
            login_link(&fresh, &[("biz_appid", "wx9999999999999999")]),
            47001,
        ),
        (
            "bad category list",
            login_link(&fresh, &[("category_id_list", "1|x")]),
            47001,
        ),
    ] {
        let (status, headers, html) = get(&app, &link).await;
        assert!((400..500).contains(&status), "{what}: {status}");
        assert!(headers.get("location").is_none(), "{what}");
        assert_eq!(errcode_on_page(&html), errcode, "{what}");
    }
    let _ = code;
}

#[tokio::test]
async fn the_console_needs_the_admin_token_and_then_shows_the_state() {
    let app = spawn_app().await;

    let (_, _, login) = get(&app, "/").await;
    assert!(login.contains(r#"name="token""#) && !login.contains("Components ("));
    let wrong = no_redirects()
        .post(format!("{}/console/login", app.base))
        .form(&[("token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let right = no_redirects()
        .post(format!("{}/console/login", app.base))
        .form(&[("token", ADMIN)])
        .send()
        .await
        .unwrap();
    let cookie = right.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains(ADMIN), "the cookie is not the token");

    let page = no_redirects()
        .get(format!("{}/", app.base))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    for section in [
        "Components (1)",
        "Entities (5)",
        "Official Accounts (7)",
        "Authorisations",
        "Registrations",
        "Recent pushes",
        "Sandbox clock",
    ] {
        assert!(page.contains(section), "{section}");
    }
    let forged = no_redirects()
        .get(format!("{}/", app.base))
        .header("cookie", "fastreg_console=0.abc")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(forged.contains(r#"name="token""#));
}

#[tokio::test]
async fn componentloginpage_without_auth_type_offers_both_kinds_as_auth_type_3_does() {
    let app = spawn_app().await;
    let code = pre_auth_code(&app).await;
    let without = login_link(&code, &[]).replace("&auth_type=1", "");
    assert!(!without.contains("auth_type"), "{without}");

    let (status, _, page) = get(&app, &without).await;
    let (_, _, both) = get(
        &app,
        &login_link(&code, &[]).replace("auth_type=1", "auth_type=3"),
    )
    .await;
    // silenceper/wechat sends its zero values when the caller gives none.
    let zero = login_link(&code, &[("biz_appid", "")]).replace("auth_type=1", "auth_type=0");
    let (zero_status, _, zero_page) = get(&app, &zero).await;

    assert_eq!(status, 200, "{page}");
    assert!(page.contains("biz_appid=wx0a00000000000001"), "{page}");
    assert!(
        page.contains("auth_type=3"),
        "the choices carry the default explicitly"
    );
    assert_eq!(page, both);
    assert_eq!(zero_status, 200, "{zero_page}");
    assert_eq!(
        zero_page, both,
        "auth_type=0 and an empty biz_appid read as not given"
    );
}

#[tokio::test]
async fn the_h5_authorisation_paths_serve_componentloginpage_and_its_confirmation_grants() {
    let app = spawn_app().await;
    for path in ["/safe/bindcomponent", "/wxaopen/safe/bindcomponent"] {
        let code = pre_auth_code(&app).await;
        // As wechatpy's get_pre_auth_url_m and WxJava's mobile link build it.
        let link = login_link(
            &code,
            &[
                ("biz_appid", OA),
                ("action", "bindcomponent"),
                ("no_scan", "1"),
            ],
        )
        .replace("/cgi-bin/componentloginpage", path)
        .replace("auth_type=1", "auth_type=3");

        let (status, _, html) = get(&app, &link).await;

        assert_eq!(status, 200, "{path}: {html}");
        assert!(
            html.contains(r#"name="set" value="27""#),
            "{path}: set 27 offered"
        );
        let form = [
            ("component_appid", C.to_string()),
            ("pre_auth_code", code.clone()),
            ("redirect_uri", CB.to_string()),
            ("auth_type", "3".to_string()),
            ("biz_appid", OA.to_string()),
            ("set", "27".to_string()),
            ("csrf", csrf(&html)),
        ];
        let r = no_redirects()
            .post(format!("{}/cgi-bin/componentloginpage/confirm", app.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302, "{path}");
        let to = r.headers()["location"].to_str().unwrap();
        assert!(to.contains("auth_code="), "{path}: {to}");
    }
}

/// Logs in to the console at `base_path` (`""` or `/w/{id}`) with `token`; the answer's status,
/// `Location` and `Set-Cookie` headers.
async fn console_login(
    app: &TestApp,
    base_path: &str,
    token: &str,
) -> (u16, Option<String>, Vec<String>) {
    let r = no_redirects()
        .post(format!("{}{base_path}/console/login", app.base))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let cookies = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    (r.status().as_u16(), location, cookies)
}

/// The console page at `path` with `cookie` (its `name=value` part).
async fn console_page(app: &TestApp, path: &str, cookie: &str) -> String {
    no_redirects()
        .get(format!("{}{path}", app.base))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A seed with one component the demo world does not have.
fn own_component_seed(appid: &str) -> serde_json::Value {
    json!({"components": [{"appid": appid, "auth_domain": "localhost", "published": true,
                           "permission_sets": [1, 27]}]})
}

#[tokio::test]
async fn a_worlds_own_token_opens_that_worlds_console_only_showing_its_objects_and_no_other_world()
{
    let app = spawn_app().await;
    let (w, _) = app
        .create_world(
            json!({"name": "suite A", "clock": {"start": 1_709_222_400, "frozen": true},
                             "seed": own_component_seed("wxc0ffee00000000aa")}),
        )
        .await;
    let (other, _) = app.create_world(json!({"name": "suite B"})).await;
    let id = w["id"].as_str().unwrap();
    let token = w["admin_token"].as_str().unwrap();
    let base_path = format!("/w/{id}");

    // The login form stays in the world.
    let (status, _, form) = get(&app, &base_path).await;
    assert_eq!(status, 200);
    assert!(
        form.contains(&format!(r#"action="/w/{id}/console/login""#)),
        "{form}"
    );

    // The world's token opens its console, with a cookie for its path only.
    let (status, location, cookies) = console_login(&app, &base_path, token).await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some(base_path.as_str()));
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    assert!(cookie.contains(&format!("Path=/w/{id};")), "{cookie}");
    assert!(!cookie.contains(token), "the cookie is not the token");

    let page = console_page(&app, &base_path, cookie).await;
    assert!(page.contains(id) && page.contains("suite A"), "{page}");
    assert!(
        page.contains("2024-03-01 00:00:00") && page.contains("frozen"),
        "{page}"
    );
    assert!(page.contains("Components (1)") && page.contains("wxc0ffee00000000aa"));
    assert!(
        page.contains("Entities (0)"),
        "not the default world's objects"
    );
    assert!(
        !page.contains("wxc0ffee0000000001"),
        "not the default world's objects"
    );
    assert!(
        page.contains(&format!(r#"action="/w/{id}/console/logout""#)),
        "{page}"
    );
    // No list of worlds for a world's admin.
    assert!(!page.contains("Worlds ("), "{page}");
    assert!(!page.contains(other["id"].as_str().unwrap()), "{page}");

    // Its cookie opens neither the root console nor another world's.
    let root = console_page(&app, "/", cookie).await;
    assert!(root.contains(r#"name="token""#) && !root.contains("Components ("));
    let elsewhere = console_page(&app, other["base_path"].as_str().unwrap(), cookie).await;
    assert!(elsewhere.contains(r#"name="token""#) && !elsewhere.contains("Components ("));

    // The world's token cannot log in at the root, nor in another world.
    let (status, _, cookies) = console_login(&app, "", token).await;
    assert_eq!(status, 401);
    assert!(cookies.is_empty());
    let (status, _, cookies) =
        console_login(&app, other["base_path"].as_str().unwrap(), token).await;
    assert_eq!(status, 401);
    assert!(cookies.is_empty());

    // Logging out stays in the world and ends its session.
    let out = no_redirects()
        .post(format!("{}{base_path}/console/logout", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(out.headers()["location"], base_path.as_str());
    let cleared: Vec<&str> = out
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.contains(&format!("Path=/w/{id};")) && c.contains("Max-Age=0")),
        "{cleared:?}"
    );

    // A deleted world's console is gone, whatever the cookie.
    app.sandbox_ok("DELETE", &format!("/worlds/{id}"), None)
        .await;
    let gone = console_page(&app, &base_path, cookie).await;
    assert!(!gone.contains("Components ("), "{gone}");
}

#[tokio::test]
async fn the_server_admins_console_lists_every_world_and_switches_between_them() {
    let app = spawn_app().await;
    let (a, _) = app
        .create_world(json!({"name": "suite A", "seed": own_component_seed("wxc0ffee00000000aa")}))
        .await;
    let (b, _) = app.create_world(json!({"name": "suite <B>"})).await;
    let (ida, idb) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());

    let (status, location, cookies) = console_login(&app, "", ADMIN).await;
    assert_eq!((status, location.as_deref()), (303, Some("/")));
    let cookie = &cookies[0];
    assert!(cookie.contains("Path=/;"), "{cookie}");

    // At the root: the default world, and a switcher to every world.
    let root = console_page(&app, "/", cookie).await;
    assert!(
        root.contains("the default world") && root.contains("Worlds (3)"),
        "{root}"
    );
    assert!(root.contains(&format!(r#"href="/w/{ida}""#)), "{root}");
    assert!(root.contains(&format!(r#"href="/w/{idb}""#)), "{root}");
    assert!(
        root.contains("suite &lt;B&gt;"),
        "names are escaped: {root}"
    );
    assert!(root.contains("Components (1)") && root.contains("wxc0ffee0000000001"));

    // The same session opens a world's console: that world, and the way back.
    let page = console_page(&app, &format!("/w/{ida}"), cookie).await;
    assert!(
        page.contains("suite A") && page.contains("wxc0ffee00000000aa"),
        "{page}"
    );
    assert!(!page.contains("wxc0ffee0000000001"), "{page}");
    assert!(
        page.contains(r#"href="/""#) && page.contains("Worlds (3)"),
        "{page}"
    );
    assert!(page.contains(&format!(r#"href="/w/{idb}""#)), "{page}");
    assert!(
        page.contains(&format!(r#"action="/w/{ida}/console/logout""#)),
        "{page}"
    );

    // Logging in at a world's console with the server's token: a session for every world,
    // back to that world's console.
    let (status, location, cookies) = console_login(&app, &format!("/w/{idb}"), ADMIN).await;
    assert_eq!(status, 303);
    assert_eq!(location, Some(format!("/w/{idb}")));
    assert!(cookies[0].contains("Path=/;"), "{cookies:?}");
    let root = console_page(&app, "/", &cookies[0]).await;
    assert!(root.contains("Worlds (3)"), "{root}");
}
