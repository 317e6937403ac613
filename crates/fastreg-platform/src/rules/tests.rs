//! The rules as a table: a context where every check passes, then one case per errcode that
//! breaks exactly one thing, then precedence cases that break two things at once.

use super::*;
use crate::domain::*;

const NOW: UnixTime = 1_800_000_000;
const OA: &str = "wx0a00000000000001";
const COMPONENT: &str = "wxc0ffee0000000001";
const TICKET: &str = "b25519093b1e97239eff9d2bfc07e08e";

/// The context's component, to change for a case.
fn component_mut(c: &mut FastRegisterContext) -> &mut Component {
    std::sync::Arc::make_mut(c.component.as_mut().expect("a component"))
}

fn passing() -> FastRegisterContext {
    FastRegisterContext {
        token_present: true,
        token: Some(std::sync::Arc::new(TokenRecord {
            hash: "h".into(),
            kind: TokenKind::Authorizer(AuthorizerKind::OfficialAccount),
            component_appid: COMPONENT.into(),
            authorizer_appid: OA.into(),
            issued_at: NOW - 10,
            expires_at: NOW + 7190,
            superseded_at: None,
        })),
        authorization: Some(std::sync::Arc::new(Authorization {
            component_appid: COMPONENT.into(),
            authorizer_appid: OA.into(),
            authorizer_kind: AuthorizerKind::OfficialAccount,
            permission_sets: vec![1, 27],
            refresh_token: "r".into(),
            auth_time: NOW - 100,
            revoked: false,
        })),
        body: Some(TicketBody::Ticket(TICKET.into())),
        component: Some(std::sync::Arc::new(Component {
            appid: COMPONENT.into(),
            appsecret: "s".into(),
            token: "t".into(),
            encoding_aes_key: "k".into(),
            event_url: None,
            auth_domain: "example.com".into(),
            published: true,
            permission_sets: vec![3, 17, 18, 30, 31],
            mp_permission_sets: vec![17, 18],
            ip_whitelist: vec![],
            created_at: NOW - 1000,
        })),
        ticket: Some(FastRegisterTicket {
            ticket: TICKET.into(),
            component_appid: COMPONENT.into(),
            oa_appid: OA.into(),
            copy_wx_verify: true,
            issued_at: NOW - 60,
            expires_at: NOW + 1740,
        }),
        ticket_registration: None,
        official_account: Some(std::sync::Arc::new(OfficialAccount {
            appid: OA.into(),
            user_name: "gh_000000000001".into(),
            nickname: "Demo".into(),
            entity_id: 1,
            verified: true,
            pending_registration: false,
            link_cap: None,
            created_at: NOW - 1000,
        })),
        entity: Some(std::sync::Arc::new(Entity {
            id: 1,
            name: "Demo Co.".into(),
            entity_type: EntityType::Enterprise,
            overseas: false,
            blacklisted: false,
            mini_program_cap: None,
        })),
        oa_in_progress: false,
        oa_successes_this_month: 0,
        entity_mini_programs: 0,
    }
}

fn success(ticket: &str, oa: &str) -> Registration {
    Registration {
        id: 1,
        ticket: ticket.into(),
        oa_appid: oa.into(),
        entity_id: 1,
        component_appid: COMPONENT.into(),
        status: RegistrationStatus::Succeeded,
        mp_appid: Some("wxe5f52902cf4de896".into()),
        authorization_code: Some("code".into()),
        is_wx_verify_succ: true,
        is_link_succ: true,
        created_at: NOW - 30,
        completed_at: Some(NOW - 30),
        month: Some("2027-01".into()),
    }
}

type Case = (&'static str, fn(&mut FastRegisterContext), Option<ErrCode>);

fn cases() -> Vec<Case> {
    use ErrCode::*;
    vec![
        ("everything in order", |_| {}, None),
        // Rule 1
        (
            "no access_token",
            |c| c.token_present = false,
            Some(AccessTokenMissing),
        ),
        ("unknown token", |c| c.token = None, Some(InvalidCredential)),
        (
            "token superseded more than 300 s ago",
            |c| std::sync::Arc::make_mut(c.token.as_mut().unwrap()).superseded_at = Some(NOW - 300),
            Some(InvalidCredential),
        ),
        (
            "token superseded less than 300 s ago still works",
            |c| std::sync::Arc::make_mut(c.token.as_mut().unwrap()).superseded_at = Some(NOW - 299),
            None,
        ),
        (
            "token expired",
            |c| std::sync::Arc::make_mut(c.token.as_mut().unwrap()).expires_at = NOW,
            Some(AccessTokenExpired),
        ),
        // Rule 2
        (
            "component token",
            |c| std::sync::Arc::make_mut(c.token.as_mut().unwrap()).kind = TokenKind::Component,
            Some(ApiUnauthorized),
        ),
        (
            "mini program token",
            |c| {
                std::sync::Arc::make_mut(c.token.as_mut().unwrap()).kind =
                    TokenKind::Authorizer(AuthorizerKind::MiniProgram)
            },
            Some(ApiUnauthorized),
        ),
        // Rule 3
        (
            "set 27 not granted",
            |c| {
                std::sync::Arc::make_mut(c.authorization.as_mut().unwrap()).permission_sets =
                    vec![1]
            },
            Some(ApiUnauthorizedToComponent),
        ),
        (
            "authorisation revoked",
            |c| std::sync::Arc::make_mut(c.authorization.as_mut().unwrap()).revoked = true,
            Some(ApiUnauthorizedToComponent),
        ),
        (
            "no authorisation",
            |c| c.authorization = None,
            Some(ApiUnauthorizedToComponent),
        ),
        // Rule 4
        (
            "empty body",
            |c| c.body = Some(TicketBody::Empty),
            Some(EmptyPostData),
        ),
        (
            "malformed body",
            |c| c.body = Some(TicketBody::Malformed),
            Some(DataFormatError),
        ),
        // Rule 5
        (
            "component unpublished",
            |c| component_mut(c).published = false,
            Some(ComponentUnpublished),
        ),
        (
            "component lacks set 31",
            |c| component_mut(c).permission_sets = vec![3, 17, 18, 30],
            Some(ComponentNeedsBaseCategory),
        ),
        // Rule 6
        ("unknown ticket", |c| c.ticket = None, Some(InvalidTicket)),
        (
            "ticket sent differs from the one loaded",
            |c| c.body = Some(TicketBody::Ticket("other".into())),
            Some(InvalidTicket),
        ),
        (
            "ticket expired",
            |c| c.ticket.as_mut().unwrap().expires_at = NOW,
            Some(InvalidTicket),
        ),
        (
            "ticket for another OA",
            |c| c.ticket.as_mut().unwrap().oa_appid = "wx0a00000000000002".into(),
            Some(InvalidTicket),
        ),
        (
            "ticket for another component",
            |c| c.ticket.as_mut().unwrap().component_appid = "wxc0ffee0000000002".into(),
            Some(InvalidTicket),
        ),
        (
            "ticket claimed by a call in progress",
            |c| {
                let mut r = success(TICKET, OA);
                r.status = RegistrationStatus::InProgress;
                c.ticket_registration = Some(r);
            },
            Some(InvalidTicket),
        ),
        (
            "ticket of an abandoned attempt is usable again",
            |c| {
                let mut r = success(TICKET, OA);
                r.status = RegistrationStatus::Abandoned;
                c.ticket_registration = Some(r);
            },
            None,
        ),
        // Rule 7
        (
            "overseas entity",
            |c| std::sync::Arc::make_mut(c.entity.as_mut().unwrap()).overseas = true,
            Some(OverseasAccessDeny),
        ),
        (
            "personal entity",
            |c| {
                std::sync::Arc::make_mut(c.entity.as_mut().unwrap()).entity_type =
                    EntityType::Personal
            },
            Some(InvalidRealnameType),
        ),
        (
            "OA not verified",
            |c| std::sync::Arc::make_mut(c.official_account.as_mut().unwrap()).verified = false,
            Some(NeedToBeCertified),
        ),
        (
            "entity blacklisted",
            |c| std::sync::Arc::make_mut(c.entity.as_mut().unwrap()).blacklisted = true,
            Some(RealnameInBlackList),
        ),
        (
            "government without copy_wx_verify",
            |c| {
                std::sync::Arc::make_mut(c.entity.as_mut().unwrap()).entity_type =
                    EntityType::Government;
                c.ticket.as_mut().unwrap().copy_wx_verify = false;
            },
            Some(CopyWxVerifyRequired),
        ),
        (
            "media without copy_wx_verify",
            |c| {
                std::sync::Arc::make_mut(c.entity.as_mut().unwrap()).entity_type =
                    EntityType::Media;
                c.ticket.as_mut().unwrap().copy_wx_verify = false;
            },
            Some(CopyWxVerifyRequired),
        ),
        (
            "other organisation without copy_wx_verify",
            |c| {
                std::sync::Arc::make_mut(c.entity.as_mut().unwrap()).entity_type =
                    EntityType::OtherOrg;
                c.ticket.as_mut().unwrap().copy_wx_verify = false;
            },
            Some(CopyWxVerifyRequired),
        ),
        (
            "enterprise without copy_wx_verify is fine",
            |c| c.ticket.as_mut().unwrap().copy_wx_verify = false,
            None,
        ),
        (
            "another registration of the OA in progress",
            |c| c.oa_in_progress = true,
            Some(RegistrationInProgress),
        ),
        (
            "OA has a pending registration flag",
            |c| {
                std::sync::Arc::make_mut(c.official_account.as_mut().unwrap())
                    .pending_registration = true
            },
            Some(RegistrationInProgress),
        ),
        (
            "fifth success this month already",
            |c| c.oa_successes_this_month = 5,
            Some(ExceedQuotaPerMonth),
        ),
        (
            "fourth success this month is fine",
            |c| c.oa_successes_this_month = 4,
            None,
        ),
        (
            "entity at the default cap",
            |c| c.entity_mini_programs = 50,
            Some(RealnameExceedLimits),
        ),
        (
            "entity at its own cap",
            |c| {
                std::sync::Arc::make_mut(c.entity.as_mut().unwrap()).mini_program_cap = Some(2);
                c.entity_mini_programs = 2;
            },
            Some(RealnameExceedLimits),
        ),
        // Precedence: two rules fail at once, the earlier one answers.
        (
            "no token and empty body: token first",
            |c| {
                c.token_present = false;
                c.body = Some(TicketBody::Empty);
            },
            Some(AccessTokenMissing),
        ),
        (
            "expired token and superseded: 40001 before 42001",
            |c| {
                let t = std::sync::Arc::make_mut(c.token.as_mut().unwrap());
                t.expires_at = NOW - 1;
                t.superseded_at = Some(NOW - 1000);
            },
            Some(InvalidCredential),
        ),
        (
            "MP token without set 27: 48001 before 61007",
            |c| {
                std::sync::Arc::make_mut(c.token.as_mut().unwrap()).kind = TokenKind::Component;
                c.authorization = None;
            },
            Some(ApiUnauthorized),
        ),
        (
            "no set 27 and malformed body: 61007 first",
            |c| {
                c.authorization = None;
                c.body = Some(TicketBody::Malformed);
            },
            Some(ApiUnauthorizedToComponent),
        ),
        (
            "malformed body and unpublished component: 47001 first",
            |c| {
                c.body = Some(TicketBody::Malformed);
                component_mut(c).published = false;
            },
            Some(DataFormatError),
        ),
        (
            "unpublished and lacking sets: 61028 first",
            |c| {
                let comp = component_mut(c);
                comp.published = false;
                comp.permission_sets.clear();
            },
            Some(ComponentUnpublished),
        ),
        (
            "lacking sets and bad ticket: 61029 first",
            |c| {
                component_mut(c).permission_sets.clear();
                c.ticket = None;
            },
            Some(ComponentNeedsBaseCategory),
        ),
        (
            "bad ticket and overseas: 61058 first",
            |c| {
                c.ticket = None;
                std::sync::Arc::make_mut(c.entity.as_mut().unwrap()).overseas = true;
            },
            Some(InvalidTicket),
        ),
        (
            "overseas personal: 61061 first",
            |c| {
                let e = std::sync::Arc::make_mut(c.entity.as_mut().unwrap());
                e.overseas = true;
                e.entity_type = EntityType::Personal;
            },
            Some(OverseasAccessDeny),
        ),
        (
            "personal and unverified: 61051 first",
            |c| {
                std::sync::Arc::make_mut(c.entity.as_mut().unwrap()).entity_type =
                    EntityType::Personal;
                std::sync::Arc::make_mut(c.official_account.as_mut().unwrap()).verified = false;
            },
            Some(InvalidRealnameType),
        ),
        (
            "unverified and blacklisted: 61052 first",
            |c| {
                std::sync::Arc::make_mut(c.official_account.as_mut().unwrap()).verified = false;
                std::sync::Arc::make_mut(c.entity.as_mut().unwrap()).blacklisted = true;
            },
            Some(NeedToBeCertified),
        ),
        (
            "blacklisted media without copy: 61054 first",
            |c| {
                let e = std::sync::Arc::make_mut(c.entity.as_mut().unwrap());
                e.blacklisted = true;
                e.entity_type = EntityType::Media;
                c.ticket.as_mut().unwrap().copy_wx_verify = false;
            },
            Some(RealnameInBlackList),
        ),
        (
            "media without copy and in progress: 61056 first",
            |c| {
                std::sync::Arc::make_mut(c.entity.as_mut().unwrap()).entity_type =
                    EntityType::Media;
                c.ticket.as_mut().unwrap().copy_wx_verify = false;
                c.oa_in_progress = true;
            },
            Some(CopyWxVerifyRequired),
        ),
        (
            "in progress and over quota: 61057 first",
            |c| {
                c.oa_in_progress = true;
                c.oa_successes_this_month = 5;
            },
            Some(RegistrationInProgress),
        ),
        (
            "over quota and entity at cap: 61055 first",
            |c| {
                c.oa_successes_this_month = 5;
                c.entity_mini_programs = 50;
            },
            Some(ExceedQuotaPerMonth),
        ),
        (
            "ticket in progress while OA in progress: 61058 first",
            |c| {
                let mut r = success(TICKET, OA);
                r.status = RegistrationStatus::InProgress;
                c.ticket_registration = Some(r);
                c.oa_in_progress = true;
            },
            Some(InvalidTicket),
        ),
    ]
}

#[test]
fn every_rule_refuses_with_its_errcode_and_the_first_failing_rule_wins() {
    let policy = Policy::default();
    for (name, mutate, want) in cases() {
        let mut ctx = passing();
        mutate(&mut ctx);
        let got = check_fast_register(&ctx, NOW, &policy);
        match (want, got) {
            (None, Decision::Proceed(_)) => {}
            (Some(code), Decision::Refuse(got)) => assert_eq!(got, code, "case: {name}"),
            (want, got) => panic!("case {name}: wanted {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn the_table_reaches_every_errcode_fastregister_can_return() {
    let reached: std::collections::HashSet<ErrCode> =
        cases().into_iter().filter_map(|(_, _, c)| c).collect();
    for code in [
        ErrCode::AccessTokenMissing,
        ErrCode::InvalidCredential,
        ErrCode::AccessTokenExpired,
        ErrCode::ApiUnauthorized,
        ErrCode::ApiUnauthorizedToComponent,
        ErrCode::EmptyPostData,
        ErrCode::DataFormatError,
        ErrCode::ComponentUnpublished,
        ErrCode::ComponentNeedsBaseCategory,
        ErrCode::InvalidTicket,
        ErrCode::OverseasAccessDeny,
        ErrCode::InvalidRealnameType,
        ErrCode::NeedToBeCertified,
        ErrCode::RealnameInBlackList,
        ErrCode::CopyWxVerifyRequired,
        ErrCode::RegistrationInProgress,
        ErrCode::ExceedQuotaPerMonth,
        ErrCode::RealnameExceedLimits,
    ] {
        assert!(reached.contains(&code), "no case reaches {code}");
    }
}

#[test]
fn a_spent_ticket_replays_its_success_for_the_same_oa() {
    let mut ctx = passing();
    ctx.ticket_registration = Some(success(TICKET, OA));
    // Replays even when the OA is now over quota: a replay registers nothing.
    ctx.oa_successes_this_month = 5;
    match check_fast_register(&ctx, NOW, &Policy::default()) {
        Decision::Replay(r) => assert_eq!(r.mp_appid.as_deref(), Some("wxe5f52902cf4de896")),
        other => panic!("wanted a replay, got {other:?}"),
    }
}

#[test]
fn verification_is_reused_only_when_asked_verified_and_the_policy_allows() {
    let approve = |copy: bool, policy: VerificationPolicy| {
        let mut ctx = passing();
        ctx.ticket.as_mut().unwrap().copy_wx_verify = copy;
        let p = Policy {
            verification_policy: policy,
            ..Policy::default()
        };
        match check_fast_register(&ctx, NOW, &p) {
            Decision::Proceed(a) => a.is_wx_verify_succ,
            other => panic!("{other:?}"),
        }
    };
    assert!(approve(true, VerificationPolicy::Reuse));
    assert!(!approve(false, VerificationPolicy::Reuse));
    assert!(!approve(true, VerificationPolicy::Unverified));
}

#[test]
fn the_link_fails_only_at_the_link_cap() {
    let oa = OfficialAccount::clone(&passing().official_account.unwrap());
    let p = Policy::default();
    assert!(link_succeeds(&oa, 499, &p));
    assert!(!link_succeeds(&oa, 500, &p));
    let capped = OfficialAccount {
        link_cap: Some(1),
        ..oa
    };
    assert!(!link_succeeds(&capped, 1, &p));
}

#[test]
fn set_27_is_left_out_while_another_component_holds_it() {
    assert_eq!(sets_to_grant(&[27, 1, 1], "A", None), vec![1, 27]);
    assert_eq!(sets_to_grant(&[27, 1], "A", Some("A")), vec![1, 27]);
    assert_eq!(sets_to_grant(&[27, 1], "B", Some("A")), vec![1]);
}

#[test]
fn redirect_uris_must_stay_on_the_auth_domain() {
    let ok = |u: &str, d: &str| check_redirect_uri(u, d).is_ok();
    assert!(ok("https://www.qq.com/auth/callback?from=mp", "www.qq.com"));
    assert!(ok("https://WWW.QQ.COM/cb", "www.qq.com"));
    assert!(ok("http://localhost:8123/cb", "localhost"));
    assert!(ok("http://127.0.0.1:9000/cb", "127.0.0.1:9000"));
    assert!(!ok("http://127.0.0.1:9001/cb", "127.0.0.1:9000"));
    assert!(!ok("https://evil.com/cb", "www.qq.com"));
    assert!(!ok("https://www.qq.com.evil.com/cb", "www.qq.com"));
    assert!(!ok("https://www.qq.com@evil.com/cb", "www.qq.com"));
    assert!(!ok("https://sub.www.qq.com/cb", "www.qq.com"));
    assert!(!ok("javascript:alert(1)//www.qq.com", "www.qq.com"));
    assert!(!ok("//www.qq.com/cb", "www.qq.com"));
    assert!(!ok("/cb", "www.qq.com"));
    assert!(!ok("https://www.qq.com/cb", ""));
    // A browser reads these as on the domain, a plain reader of the Location header does not.
    assert!(!ok("https://www.qq.com\\@evil.com/cb", "www.qq.com"));
    assert!(!ok("https:www.qq.com/cb", "www.qq.com"));
    assert!(!ok("https:///www.qq.com/cb", "www.qq.com"));
    assert!(!ok(
        "https://www.qq.com/cb\r\nSet-Cookie: a=b",
        "www.qq.com"
    ));
    assert!(!ok("\thttps://www.qq.com/cb", "www.qq.com"));
    // Both read these as on the domain.
    assert!(ok("https://evil.com@www.qq.com/cb", "www.qq.com"));
    assert!(ok("https://%77ww.qq.com/cb", "www.qq.com"));
    assert!(ok("http://[::1]:8080/cb", "[::1]"));
}

#[test]
fn query_parameters_are_appended_with_the_right_separator() {
    assert_eq!(
        append_query(
            "https://www.qq.com/auth/callback?from=mp",
            &[("ticket", "abc")]
        ),
        "https://www.qq.com/auth/callback?from=mp&ticket=abc"
    );
    assert_eq!(
        append_query("https://a.com/cb", &[("ticket", "abc")]),
        "https://a.com/cb?ticket=abc"
    );
    assert_eq!(
        append_query("https://a.com/cb?", &[("t", "1")]),
        "https://a.com/cb?t=1"
    );
    assert_eq!(
        append_query(
            "https://a.com/cb#top",
            &[("auth_code", "x@@@y"), ("expires_in", "3600")]
        ),
        "https://a.com/cb?auth_code=x%40%40%40y&expires_in=3600#top"
    );
}
