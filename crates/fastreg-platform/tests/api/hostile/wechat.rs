//! Hostile requests to the WeChat-compatible endpoints: always HTTP 200 and an errcode JSON.

use super::*;

// The WeChat-compatible endpoints
// ---------------------------------------------------------------------------------------------

fn wx_endpoints(w: &World) -> Vec<WxEndpoint> {
    let c = || ("component_appid", q(C));
    vec![
        WxEndpoint {
            path: "/cgi-bin/component/api_component_token",
            token: Token::None,
            fields: vec![
                c(),
                ("component_appsecret", q(&w.secret)),
                ("component_verify_ticket", q(&w.verify_ticket)),
            ],
            success_key: Some("component_access_token"),
        },
        WxEndpoint {
            path: "/cgi-bin/component/api_start_push_ticket",
            token: Token::None,
            fields: vec![c(), ("component_secret", q(&w.secret))],
            success_key: None,
        },
        WxEndpoint {
            path: "/cgi-bin/component/api_create_preauthcode",
            token: Token::Component,
            fields: vec![c()],
            success_key: Some("pre_auth_code"),
        },
        WxEndpoint {
            path: "/cgi-bin/component/api_query_auth",
            token: Token::Component,
            fields: vec![
                c(),
                (
                    "authorization_code",
                    q("queryauthcode@@@0000000000000000000000000000000000000000000"),
                ),
            ],
            success_key: Some("authorization_info"),
        },
        WxEndpoint {
            path: "/cgi-bin/component/api_authorizer_token",
            token: Token::Component,
            fields: vec![
                c(),
                ("authorizer_appid", q(OA)),
                ("authorizer_refresh_token", q(&w.refresh)),
            ],
            success_key: Some("authorizer_access_token"),
        },
        WxEndpoint {
            path: "/cgi-bin/component/api_get_authorizer_info",
            token: Token::Component,
            fields: vec![c(), ("authorizer_appid", q(OA))],
            success_key: None,
        },
        WxEndpoint {
            path: "/cgi-bin/component/api_get_authorizer_list",
            token: Token::Component,
            fields: vec![c(), ("offset", "0".into()), ("count", "10".into())],
            success_key: None,
        },
        WxEndpoint {
            path: "/cgi-bin/account/fastregister",
            token: Token::Oa,
            fields: vec![("ticket", q("0123456789abcdef0123456789abcdef"))],
            success_key: None,
        },
        WxEndpoint {
            path: "/cgi-bin/wxopen/wxamplinkget",
            token: Token::Oa,
            fields: vec![],
            success_key: None,
        },
        WxEndpoint {
            path: "/cgi-bin/account/getaccountbasicinfo",
            token: Token::MiniProgram,
            fields: vec![],
            success_key: None,
        },
    ]
}

#[test]
fn hostile_requests_to_the_wechat_endpoints_always_get_http_200_and_an_errcode_json() {
    let h = harness();
    let limit = h.app.state.settings.max_body_bytes;
    for ep in wx_endpoints(&h.world) {
        let (names, good): (Vec<&'static str>, Vec<String>) = match ep.token {
            Token::None => (vec!["component_access_token", "access_token"], vec![]),
            Token::Component => (
                vec!["component_access_token", "access_token"],
                vec![h.world.ct.clone(), h.world.oat.clone()],
            ),
            Token::Oa => (
                vec!["access_token", "component_access_token"],
                vec![h.world.oat.clone(), h.world.ct.clone()],
            ),
            Token::MiniProgram => (
                vec!["access_token"],
                vec![h.world.mpt.clone(), h.world.oat.clone()],
            ),
        };
        let usual = if ep.path.ends_with("getaccountbasicinfo") {
            "GET"
        } else {
            "POST"
        };
        let path = ep.path;
        let strategy = (
            hostile_method(usual),
            hostile_query(names, good),
            hostile_content_type(),
            hostile_body(ep.fields.clone(), limit),
        )
            .prop_map(move |(method, query, headers, body)| Req {
                method,
                path_and_query: format!("{path}{query}"),
                headers,
                body,
            });
        h.run(ep.path, 512, strategy, |req| {
            let resp = h.send(req)?;
            check_wechat(&ep, req, &resp)
        });
    }
    // After all that, the whole flow still works.
    h.rt.block_on(async {
        let oat = h.app.oa_token(OA).await;
        let ticket = h.app.confirm(C, OA, 1).await;
        let v = h.app.fastregister(&oat, &ticket).await;
        assert_eq!(v["errcode"], 0, "{v}");
    });
    h.report("WeChat-compatible endpoints");
}

// ---------------------------------------------------------------------------------------------
