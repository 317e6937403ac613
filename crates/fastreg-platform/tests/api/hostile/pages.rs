//! Hostile requests to the pages, the console and unknown paths: a page or a 4xx error page,
//! never a redirect, never the console opened, never a 5xx.

use super::*;

// The pages, the console, unknown paths
// ---------------------------------------------------------------------------------------------

/// A page's parameters, drawn from its names (valid values sometimes) and others.
fn page_query(names: Vec<(&'static str, String)>) -> BoxedStrategy<String> {
    let (names, good): (Vec<&'static str>, Vec<String>) = names.into_iter().unzip();
    hostile_query(names, good)
}

fn page_form(names: Vec<(&'static str, String)>) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        4 => page_query(names).prop_map(|q| q.trim_start_matches('?').as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..512),
        1 => Just(format!("csrf={}&appid={OA}", "9".repeat(2_000_000)).into_bytes()),
    ]
    .boxed()
}

#[test]
fn hostile_requests_to_the_pages_get_a_page_or_a_4xx_error_page_and_never_a_redirect() {
    let h = harness();
    let login = vec![
        ("component_appid", C.to_string()),
        ("pre_auth_code", h.world.pre_auth_code.clone()),
        ("redirect_uri", CB.to_string()),
        ("auth_type", "1".to_string()),
        ("biz_appid", OA.to_string()),
        ("category_id_list", "1|27".to_string()),
        ("set", "27".to_string()),
        ("csrf", "1700000000.00".to_string()),
    ];
    let register = vec![
        ("appid", OA.to_string()),
        ("component_appid", C.to_string()),
        ("copy_wx_verify", "1".to_string()),
        ("redirect_uri", CB.to_string()),
        ("csrf", "1700000000.00".to_string()),
    ];
    for (path, names) in [
        ("/cgi-bin/componentloginpage", login),
        ("/cgi-bin/fastregisterauth", register),
    ] {
        // The page itself.
        let strategy =
            (hostile_method("GET"), page_query(names.clone())).prop_map(move |(method, query)| {
                Req {
                    method,
                    path_and_query: format!("{path}{query}"),
                    headers: vec![],
                    body: vec![],
                }
            });
        h.run(path, 512, strategy, |req| {
            let resp = h.send(req)?;
            check_page(req, &resp, &["GET", "HEAD"], true)
        });
        // Its confirmation: without the page's token nothing is confirmed, and nothing redirects.
        let confirm = format!("{path}/confirm");
        let strategy = (
            hostile_method("POST"),
            hostile_query(vec!["csrf"], vec![]),
            page_form(names),
        )
            .prop_map(move |(method, query, body)| Req {
                method,
                path_and_query: format!("{confirm}{query}"),
                headers: vec![(
                    "content-type",
                    "application/x-www-form-urlencoded".to_string(),
                )],
                body,
            });
        h.run(path, 512, strategy, |req| {
            let resp = h.send(req)?;
            if req.method == "POST" && resp.status == 200 {
                return fail(req, &resp, "a confirmation without its token answered 200");
            }
            check_page(req, &resp, &["POST"], false)
        });
    }
    // Nothing was confirmed: the pre_auth_code is still unspent.
    let link = format!(
        "/cgi-bin/componentloginpage?component_appid={C}&pre_auth_code={}&redirect_uri={}&auth_type=1&biz_appid={OA}",
        encode(&h.world.pre_auth_code),
        encode(CB)
    );
    let page = h
        .send_good(&Req {
            method: "GET".into(),
            path_and_query: link,
            headers: vec![],
            body: vec![],
        })
        .expect("the page answers");
    assert_eq!(page.status, 200, "{}", page.text());
    h.report("componentloginpage and fastregisterauth");
}

#[test]
fn hostile_requests_to_the_console_never_open_it_and_never_get_a_5xx() {
    let h = harness();
    let cookie = prop_oneof![
        Just(vec![]),
        odd_string().prop_map(|s| vec![("cookie", encode(&s))]),
        hostile_value().prop_map(|v| vec![("cookie", format!("fastreg_console={}", encode(&v)))]),
        Just(vec![("cookie", "fastreg_console=0.".to_string())]),
        Just(vec![("cookie", format!("fastreg_console={ADMIN}"))]),
        Just(vec![(
            "cookie",
            "fastreg_console=; fastreg_console=1.abc; a=b".to_string()
        )]),
    ];
    let strategy = (
        hostile_method("GET"),
        select(vec![
            "/",
            "/console/login",
            "/console/logout",
            "/cgi-bin/cancelled",
        ]),
        hostile_query(vec!["token"], vec![ADMIN.to_string()]),
        cookie,
        page_form(vec![("token", "wrong".to_string())]),
    )
        .prop_map(|(method, path, query, headers, body)| Req {
            method,
            path_and_query: format!("{path}{query}"),
            headers,
            body,
        });
    h.run("console", 1024, strategy, |req| {
        let resp = h.send(req)?;
        let path = req.path_and_query.split('?').next().unwrap_or_default();
        let text = String::from_utf8_lossy(&resp.body);
        let expected = match (req.method.as_str(), path) {
            ("GET" | "HEAD", "/") | ("GET" | "HEAD", "/cgi-bin/cancelled") => 200,
            ("POST", "/console/login") => 401,
            ("POST", "/console/logout") => 303,
            _ => 405,
        };
        if resp.status != expected {
            return fail(req, &resp, format!("expected HTTP {expected}"));
        }
        if text.contains("Components (") {
            return fail(req, &resp, "the console opened without the admin token");
        }
        if path == "/console/login" && resp.set_cookie {
            return fail(req, &resp, "a session cookie for a wrong token");
        }
        if expected == 405 {
            check_errcode_json(req, &resp)?;
        }
        Ok(())
    });
    h.report("console");
}

#[test]
fn hostile_unknown_paths_get_404_with_errcode_40066_or_the_sandbox_401() {
    let h = harness();
    // Prefixes under which no route starts with "zz".
    let prefixes = vec![
        "/",
        "/cgi-bin/",
        "/cgi-bin/component/",
        "/cgi-bin/account/fastregister/",
        "/cgi-bin/componentloginpage/",
        "/console/",
        "/sandbox/",
        "/sandbox/v1/",
        "/sandbox/v1/components/wxc0ffee0000000001/",
        "/sandbox/v1/clock/",
    ];
    let tail = prop_oneof![
        2 => odd_string().prop_map(|s| encode_for_url(&s)),
        1 => proptest::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| b.iter().map(|x| format!("%{x:02x}")).collect::<String>()),
        1 => select(
            ["%", "%zz", "%2e%2e%2f", "%2F%2Fevil.com", ";x=1", "a//b", &"x".repeat(10_000)]
                .map(String::from)
                .to_vec()
        ),
    ];
    let strategy = (
        hostile_method("GET"),
        select(prefixes),
        tail,
        hostile_query(vec!["access_token"], vec![]),
        prop_oneof![
            Just(vec![]),
            Just(vec![("authorization", format!("Bearer {ADMIN}"))])
        ],
    )
        .prop_map(|(method, prefix, tail, query, headers)| Req {
            method,
            path_and_query: format!("{prefix}zz{tail}{query}"),
            headers,
            body: b"{}".to_vec(),
        });
    h.run("unknown paths", 1024, strategy, |req| {
        let resp = h.send(req)?;
        let sandbox = req.path_and_query.starts_with("/sandbox/v1/");
        let expected = if sandbox && req.headers.is_empty() {
            401
        } else {
            404
        };
        if resp.status != expected {
            return fail(req, &resp, format!("expected HTTP {expected}"));
        }
        let code = check_errcode_json(req, &resp)?;
        if req.method != "HEAD" && expected == 404 && code != 40066 {
            return fail(req, &resp, "an unknown path answers 40066");
        }
        Ok(())
    });
    h.report("unknown paths");
}

// ---------------------------------------------------------------------------------------------
