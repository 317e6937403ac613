//! Unit tests of [`super`]: test vectors and properties.

use super::*;
use proptest::prelude::*;

fn cvt() -> PushEvent {
    PushEvent::ComponentVerifyTicket {
        app_id: "some_appid".into(),
        create_time: 1413192605,
        ticket: "some_verify_ticket".into(),
    }
}

fn authorized() -> PushEvent {
    PushEvent::Authorized {
        app_id: "第三方平台appid".into(),
        create_time: 1413192760,
        authorizer_appid: "公众号appid".into(),
        authorization_code: "授权码".into(),
        authorization_code_expired_time: 1600,
        pre_auth_code: "预授权码".into(),
    }
}

#[test]
fn the_doc_example_of_a_verify_ticket_parses() {
    let xml = "<xml><AppId>some_appid</AppId><CreateTime>1413192605</CreateTime><InfoType>component_verify_ticket</InfoType><ComponentVerifyTicket>some_verify_ticket</ComponentVerifyTicket></xml>";
    assert_eq!(PushEvent::parse(xml).unwrap(), cvt());
}

#[test]
fn a_real_cdata_verify_ticket_push_parses() {
    let xml = "<xml><AppId><![CDATA[wx0123456789abcdef]]></AppId>\n<CreateTime>1608187115</CreateTime>\n<InfoType><![CDATA[component_verify_ticket]]></InfoType>\n<ComponentVerifyTicket><![CDATA[ticket@@@Abc-DEF_ghi]]></ComponentVerifyTicket>\n</xml>";
    assert_eq!(
        PushEvent::parse(xml).unwrap(),
        PushEvent::ComponentVerifyTicket {
            app_id: "wx0123456789abcdef".into(),
            create_time: 1608187115,
            ticket: "ticket@@@Abc-DEF_ghi".into(),
        }
    );
}

#[test]
fn the_doc_examples_of_authorized_and_updateauthorized_parse_despite_their_broken_ending() {
    // As in WeChat's docs: the closing tag is `<xml>`, not `</xml>`.
    let doc = |info_type: &str| {
        format!(
            "<xml>\n<AppId>第三方平台appid</AppId>\n<CreateTime>1413192760</CreateTime>\n<InfoType>{info_type}</InfoType>\n<AuthorizerAppid>公众号appid</AuthorizerAppid>\n<AuthorizationCode>授权码</AuthorizationCode>\n<AuthorizationCodeExpiredTime>1600</AuthorizationCodeExpiredTime>\n<PreAuthCode>预授权码</PreAuthCode>\n<xml>"
        )
    };
    assert_eq!(PushEvent::parse(&doc("authorized")).unwrap(), authorized());
    let PushEvent::Authorized {
        app_id,
        create_time,
        authorizer_appid,
        authorization_code,
        authorization_code_expired_time,
        pre_auth_code,
    } = authorized()
    else {
        unreachable!()
    };
    assert_eq!(
        PushEvent::parse(&doc("updateauthorized")).unwrap(),
        PushEvent::UpdateAuthorized {
            app_id,
            create_time,
            authorizer_appid,
            authorization_code,
            authorization_code_expired_time,
            pre_auth_code,
        }
    );
    // Trailing whitespace after the stray `<xml>` is fine too.
    assert!(PushEvent::parse(&format!("{}\n  ", doc("authorized"))).is_ok());
}

#[test]
fn the_doc_example_of_unauthorized_parses() {
    let xml = "<xml><AppId>第三方平台appid</AppId><CreateTime>1413192760</CreateTime><InfoType>unauthorized</InfoType><AuthorizerAppid>公众号appid</AuthorizerAppid></xml>";
    assert_eq!(
        PushEvent::parse(xml).unwrap(),
        PushEvent::Unauthorized {
            app_id: "第三方平台appid".into(),
            create_time: 1413192760,
            authorizer_appid: "公众号appid".into(),
        }
    );
}

#[test]
fn a_real_authorized_push_with_cdata_times_and_extra_elements_parses() {
    let xml = r#"<?xml version="1.0"?>
        <xml>
          <AppId><![CDATA[wx0123456789abcdef]]></AppId>
          <CreateTime>1608187115</CreateTime>
          <InfoType><![CDATA[authorized]]></InfoType>
          <AuthorizerAppid><![CDATA[wxfedcba9876543210]]></AuthorizerAppid>
          <AuthorizationCode><![CDATA[queryauthcode@@@xyz]]></AuthorizationCode>
          <AuthorizationCodeExpiredTime><![CDATA[1608190715]]></AuthorizationCodeExpiredTime>
          <PreAuthCode><![CDATA[preauthcode@@@abc]]></PreAuthCode>
          <!-- a comment -->
          <SomethingNew><Nested>1</Nested></SomethingNew>
          <Flag/>
        </xml>"#;
    assert_eq!(
        PushEvent::parse(xml).unwrap(),
        PushEvent::Authorized {
            app_id: "wx0123456789abcdef".into(),
            create_time: 1608187115,
            authorizer_appid: "wxfedcba9876543210".into(),
            authorization_code: "queryauthcode@@@xyz".into(),
            authorization_code_expired_time: 1608190715,
            pre_auth_code: "preauthcode@@@abc".into(),
        }
    );
}

#[test]
fn whitespace_around_values_and_entities_inside_them_are_handled() {
    let xml = "<xml><AppId>  wx&#49;&amp;2 </AppId><CreateTime>\n 7 \n</CreateTime><InfoType> <![CDATA[unauthorized]]> </InfoType><AuthorizerAppid>a&lt;b</AuthorizerAppid></xml>";
    assert_eq!(
        PushEvent::parse(xml).unwrap(),
        PushEvent::Unauthorized {
            app_id: "wx1&2".into(),
            create_time: 7,
            authorizer_appid: "a<b".into(),
        }
    );
}

#[test]
fn an_authorized_push_without_a_pre_auth_code_still_parses() {
    let xml = "<xml><AppId>c</AppId><CreateTime>1</CreateTime><InfoType>authorized</InfoType><AuthorizerAppid>a</AuthorizerAppid><AuthorizationCode>q</AuthorizationCode><AuthorizationCodeExpiredTime>3601</AuthorizationCodeExpiredTime></xml>";
    let event = PushEvent::parse(xml).unwrap();
    assert!(
        matches!(&event, PushEvent::Authorized { pre_auth_code, .. } if pre_auth_code.is_empty())
    );
    assert_eq!(PushEvent::parse(&event.to_xml()).unwrap(), event);
}

#[test]
fn unknown_info_types_are_kept_whole() {
    let xml = "<xml><AppId><![CDATA[c]]></AppId><CreateTime>1</CreateTime><InfoType><![CDATA[notify_third_fasteregister]]></InfoType><appid><![CDATA[wx1]]></appid><status>0</status><info><name><![CDATA[x]]></name></info></xml>";
    let event = PushEvent::parse(xml).unwrap();
    assert_eq!(
        event,
        PushEvent::Unknown {
            app_id: "c".into(),
            info_type: "notify_third_fasteregister".into(),
            raw_xml: xml.into(),
        }
    );
    assert_eq!(event.info_type(), "notify_third_fasteregister");
    assert_eq!(event.app_id(), "c");
    assert_eq!(event.to_xml(), xml);
}

#[test]
fn every_info_type_round_trips_through_its_xml() {
    let PushEvent::Authorized {
        app_id,
        create_time,
        authorizer_appid,
        authorization_code,
        authorization_code_expired_time,
        pre_auth_code,
    } = authorized()
    else {
        unreachable!()
    };
    let events = [
        cvt(),
        authorized(),
        PushEvent::UpdateAuthorized {
            app_id,
            create_time,
            authorizer_appid,
            authorization_code,
            authorization_code_expired_time,
            pre_auth_code,
        },
        PushEvent::Unauthorized {
            app_id: "c".into(),
            create_time: 0,
            authorizer_appid: "a".into(),
        },
        PushEvent::Unknown {
            app_id: String::new(),
            info_type: "notify_third_fasteregister".into(),
            raw_xml: "<xml><InfoType>notify_third_fasteregister</InfoType></xml>".into(),
        },
    ];
    for event in events {
        let xml = event.to_xml();
        assert_eq!(PushEvent::parse(&xml).unwrap(), event, "{xml}");
    }
}

#[test]
fn the_written_xml_has_the_platform_shape() {
    assert_eq!(
        cvt().to_xml(),
        "<xml><AppId><![CDATA[some_appid]]></AppId><CreateTime>1413192605</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[some_verify_ticket]]></ComponentVerifyTicket></xml>"
    );
    assert_eq!(
        authorized().to_xml(),
        "<xml><AppId><![CDATA[第三方平台appid]]></AppId><CreateTime>1413192760</CreateTime><InfoType><![CDATA[authorized]]></InfoType><AuthorizerAppid><![CDATA[公众号appid]]></AuthorizerAppid><AuthorizationCode><![CDATA[授权码]]></AuthorizationCode><AuthorizationCodeExpiredTime>1600</AuthorizationCodeExpiredTime><PreAuthCode><![CDATA[预授权码]]></PreAuthCode></xml>"
    );
}

#[test]
fn envelopes_of_both_urls_parse_and_round_trip() {
    let auth = "<xml><AppId><![CDATA[wx0123456789abcdef]]></AppId><Encrypt><![CDATA[abc+/=]]></Encrypt></xml>";
    let env = Envelope::parse(auth).unwrap();
    assert_eq!(
        env,
        Envelope {
            app_id: "wx0123456789abcdef".into(),
            encrypt: "abc+/=".into(),
        }
    );
    assert_eq!(env.to_xml(), auth);

    let msg = "<xml>\n  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n  <Encrypt>abc+/=</Encrypt>\n</xml>";
    let env = Envelope::parse(msg).unwrap();
    assert_eq!(env.app_id, "");
    assert!(!env.to_xml().contains("AppId"));
    assert_eq!(env.encrypt, "abc+/=");
    assert_eq!(Envelope::parse(&env.to_xml()).unwrap(), env);

    assert_eq!(
        Envelope::parse("<xml><AppId>x</AppId></xml>"),
        Err(PushError::MissingField("Encrypt"))
    );
}

#[test]
fn an_encrypted_push_decrypts_to_an_event_end_to_end() {
    use crate::crypto::{self, AesKey};
    let key = AesKey::from_encoding_aes_key(&"A".repeat(43)).unwrap();
    let component = "wx134c8103faa5a59e";
    let encrypt = crypto::encrypt(&key, [5; 16], &cvt().to_xml(), component);
    let body = Envelope {
        app_id: component.into(),
        encrypt,
    }
    .to_xml();
    let signature = crypto::sign("tok", "1", "2", &Envelope::parse(&body).unwrap().encrypt);

    let env = Envelope::parse(&body).unwrap();
    let plain = crypto::open(&key, "tok", "1", "2", &env.encrypt, &signature, component).unwrap();
    assert_eq!(PushEvent::parse(&plain).unwrap(), cvt());
}

#[test]
fn malformed_documents_get_precise_errors() {
    let cases: &[(&str, PushError)] = &[
        ("", PushError::NotXmlRoot),
        ("   ", PushError::NotXmlRoot),
        ("success", PushError::NotXmlRoot),
        ("<root><InfoType>x</InfoType></root>", PushError::NotXmlRoot),
        ("<xml><InfoType>authorized</InfoType>", PushError::Unterminated),
        ("<xml><InfoType>authorized", PushError::Unterminated),
        ("<xml><AppId>a</AppId><xml><AppId>b</AppId>", PushError::Unterminated),
        ("<xml><AppId>a</AppId></xml>", PushError::MissingField("InfoType")),
        (
            "<xml><InfoType>component_verify_ticket</InfoType><AppId>a</AppId><CreateTime>soon</CreateTime></xml>",
            PushError::BadNumber {
                field: "CreateTime",
                value: "soon".into(),
            },
        ),
        (
            "<xml><InfoType>unauthorized</InfoType><AppId>a</AppId><CreateTime>1</CreateTime></xml>",
            PushError::MissingField("AuthorizerAppid"),
        ),
    ];
    for (xml, expected) in cases {
        assert_eq!(PushEvent::parse(xml).as_ref(), Err(expected), "{xml:?}");
    }
    assert!(matches!(
        PushEvent::parse("<xml><AppId>a</Appid></xml>"),
        Err(PushError::Xml(_))
    ));
    assert!(matches!(
        PushEvent::parse("<xml><AppId>&#xZZ;</AppId></xml>"),
        Err(PushError::Xml(_))
    ));
}

fn value() -> impl Strategy<Value = String> {
    // Any text, without the surrounding whitespace that the reader trims and without the
    // characters XML 1.0 cannot carry.
    any::<String>().prop_map(|s| {
        s.chars()
            .filter(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..))
            .collect::<String>()
            .replace('\r', "")
            .trim()
            .to_owned()
    })
}

fn event() -> impl Strategy<Value = PushEvent> {
    prop_oneof![
        (value(), any::<i64>(), value()).prop_map(|(app_id, create_time, ticket)| {
            PushEvent::ComponentVerifyTicket {
                app_id,
                create_time,
                ticket,
            }
        }),
        (
            any::<bool>(),
            value(),
            any::<i64>(),
            value(),
            value(),
            any::<i64>(),
            value(),
        )
            .prop_map(
                |(
                    update,
                    app_id,
                    create_time,
                    authorizer_appid,
                    authorization_code,
                    authorization_code_expired_time,
                    pre_auth_code,
                )| {
                    if update {
                        PushEvent::UpdateAuthorized {
                            app_id,
                            create_time,
                            authorizer_appid,
                            authorization_code,
                            authorization_code_expired_time,
                            pre_auth_code,
                        }
                    } else {
                        PushEvent::Authorized {
                            app_id,
                            create_time,
                            authorizer_appid,
                            authorization_code,
                            authorization_code_expired_time,
                            pre_auth_code,
                        }
                    }
                }
            ),
        (value(), any::<i64>(), value()).prop_map(|(app_id, create_time, authorizer_appid)| {
            PushEvent::Unauthorized {
                app_id,
                create_time,
                authorizer_appid,
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_event_round_trips_through_its_xml(event in event()) {
        let xml = event.to_xml();
        prop_assert_eq!(PushEvent::parse(&xml).unwrap(), event);
    }

    #[test]
    fn any_envelope_round_trips_through_its_xml(
        app_id in value(),
        encrypt in value(),
    ) {
        let env = Envelope { app_id, encrypt };
        prop_assert_eq!(Envelope::parse(&env.to_xml()).unwrap(), env);
    }

    #[test]
    fn arbitrary_input_never_panics(input in any::<String>()) {
        let _ = PushEvent::parse(&input);
        let _ = Envelope::parse(&input);
    }

    #[test]
    fn arbitrary_xml_like_input_never_panics(
        input in r"(<xml>|</xml>|<AppId>|</AppId>|<InfoType>|</InfoType>|authorized|<!\[CDATA\[|\]\]>|&amp;|&#1;|&|<|>|/>|<x/>|[ a-z0-9]){0,40}"
    ) {
        let _ = PushEvent::parse(&input);
        let _ = Envelope::parse(&input);
    }
}
