//! Hostile requests to the sandbox API: a 4xx errcode JSON or a success, never a 5xx.

use super::*;

// The sandbox API
// ---------------------------------------------------------------------------------------------

/// A sandbox route: method, path (`{}` for its parameter), the parameter's valid value, the
/// fields of a valid body.
type Route = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(&'static str, String)>,
);

/// Every sandbox route of http/sandbox/.
fn sandbox_routes() -> Vec<Route> {
    let fr = "/cgi-bin/account/fastregister";
    vec![
        (
            "POST",
            "/components",
            "",
            vec![
                ("auth_domain", q("localhost")),
                ("published", "true".into()),
                ("permission_sets", "[1,27]".into()),
                ("mp_permission_sets", "[17]".into()),
                ("ip_whitelist", "[]".into()),
                ("appid", q("wxhostile0000001")),
            ],
        ),
        ("GET", "/components", "", vec![]),
        ("GET", "/components/{}", C, vec![]),
        (
            "PATCH",
            "/components/{}",
            C,
            vec![
                ("published", "true".into()),
                ("auth_domain", q("localhost")),
                ("permission_sets", "[1,2,3,4,7,11,15,17,18,27,30,31]".into()),
            ],
        ),
        ("GET", "/components/{}/verify-ticket", C, vec![]),
        ("GET", "/components/{}/token-counts", C, vec![]),
        (
            "POST",
            "/entities",
            "",
            vec![
                ("name", q("Hostile Co.")),
                ("type", q("enterprise")),
                ("overseas", "false".into()),
                ("mini_program_cap", "null".into()),
            ],
        ),
        ("GET", "/entities", "", vec![]),
        ("GET", "/entities/{}", "1", vec![]),
        (
            "PATCH",
            "/entities/{}",
            "1",
            vec![("blacklisted", "false".into()), ("name", q("Acme"))],
        ),
        (
            "POST",
            "/official-accounts",
            "",
            vec![
                ("nickname", q("Hostile")),
                ("entity_id", "1".into()),
                ("verified", "true".into()),
            ],
        ),
        ("GET", "/official-accounts", "", vec![]),
        ("GET", "/official-accounts/{}", OA, vec![]),
        (
            "PATCH",
            "/official-accounts/{}",
            OA,
            vec![("verified", "true".into()), ("link_cap", "null".into())],
        ),
        (
            "POST",
            "/authorizations",
            "",
            vec![
                ("component_appid", q(C)),
                ("authorizer_appid", q(OA)),
                ("permission_sets", "[1,15,27]".into()),
            ],
        ),
        ("GET", "/authorizations", "", vec![]),
        (
            "POST",
            "/authorizations/revoke",
            "",
            vec![
                ("component_appid", q(C)),
                ("authorizer_appid", q(OA_PENDING)),
            ],
        ),
        ("GET", "/pushes", "", vec![]),
        (
            "POST",
            "/fastregister-confirmations",
            "",
            vec![
                ("component_appid", q(C)),
                ("appid", q(OA)),
                ("copy_wx_verify", "1".into()),
                ("redirect_uri", q(CB)),
            ],
        ),
        ("GET", "/registrations", "", vec![]),
        ("GET", "/clock", "", vec![]),
        ("POST", "/clock/advance", "", vec![("seconds", "60".into())]),
        (
            "POST",
            "/faults",
            "",
            vec![
                ("path", q(fr)),
                ("errcode", "61058".into()),
                ("times", "1".into()),
                ("when", q("before")),
            ],
        ),
        ("GET", "/faults", "", vec![]),
        ("DELETE", "/faults", "", vec![]),
        ("GET", "/config", "", vec![]),
        (
            "PATCH",
            "/config",
            "",
            vec![
                ("booleans", q("json")),
                ("rules", r#"{"monthly_quota":5}"#.into()),
            ],
        ),
    ]
}

/// The Authorization header: none, the admin token (also trimmed, lower-case scheme), or wrong.
fn hostile_authorization() -> BoxedStrategy<(Vec<(&'static str, String)>, bool)> {
    let ok = |v: String| (vec![("authorization", v)], true);
    let bad = |v: String| (vec![("authorization", v)], false);
    select(vec![
        ok(format!("Bearer {ADMIN}")),
        ok(format!("Bearer {ADMIN}")),
        ok(format!("Bearer {ADMIN}")),
        ok(format!("bearer  {ADMIN} ")),
        (vec![], false),
        bad("Bearer".into()),
        bad(format!("Basic {ADMIN}")),
        bad(format!("Bearer {ADMIN}x")),
        bad(format!("Bearer {}", &ADMIN[1..])),
        bad(format!("Bearer {ADMIN} {ADMIN}")),
    ])
    .boxed()
}

#[test]
fn hostile_requests_to_the_sandbox_api_get_a_4xx_errcode_json_or_a_success_never_a_5xx() {
    let h = harness();
    let limit = h.app.state.settings.max_body_bytes;
    for (method, template, param, fields) in sandbox_routes() {
        let segment = if param.is_empty() {
            Just(String::new()).boxed()
        } else {
            hostile_segment(param)
        };
        let strategy = (
            hostile_method(method),
            segment,
            hostile_query(
                vec!["limit", "appid", "component_appid"],
                vec!["10".into(), OA.into(), C.into()],
            ),
            hostile_authorization(),
            hostile_body(fields, limit),
        )
            .prop_map(move |(method, segment, query, (headers, _), body)| Req {
                method,
                path_and_query: format!("/sandbox/v1{}{query}", template.replace("{}", &segment)),
                headers,
                body,
            });
        h.run(template, 192, strategy, |req| {
            let resp = h.send(req)?;
            let authorised = req.headers.iter().any(|(k, v)| {
                *k == "authorization"
                    && (v
                        .strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer ")))
                    .is_some_and(|t| t.trim() == ADMIN)
            });
            if !authorised {
                if resp.status != 401 {
                    return fail(req, &resp, "no admin token, yet not 401");
                }
                let code = check_errcode_json(req, &resp)?;
                if req.method != "HEAD" && ![41001, 40001].contains(&code) {
                    return fail(req, &resp, "401 with another errcode than 41001 / 40001");
                }
                return Ok(());
            }
            match resp.status {
                200 | 201 | 204 if req.method == "HEAD" || resp.status == 204 => Ok(()),
                200 | 201 => match serde_json::from_slice::<Value>(&resp.body) {
                    Ok(v) if v.is_object() || v.is_array() => Ok(()),
                    _ => fail(req, &resp, "a success that is not a JSON object or array"),
                },
                400 | 404 | 405 | 409 if req.method == "HEAD" => Ok(()),
                400 | 404 | 405 | 409 => check_errcode_json(req, &resp).map(drop),
                // A confirmation the world's state refuses (a redirect off the component's auth
                // domain, set 27 not granted) is a 403, as `check_fast_registration` decided and
                // the document's 4XX covers; no other route and no other errcode.
                403 if template == "/fastregister-confirmations" => {
                    match check_errcode_json(req, &resp)? {
                        61060 | 61007 => Ok(()),
                        code => fail(req, &resp, format!("403 with errcode {code}")),
                    }
                }
                _ => fail(req, &resp, "a status the sandbox API does not document"),
            }
        });
    }
    h.report("sandbox API");
}

// ---------------------------------------------------------------------------------------------
