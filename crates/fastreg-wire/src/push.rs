//! Push XML: the encrypted envelope POSTed to a component's event URL, and the typed
//! authorisation events inside it (spec §4 "Pushes", domain notes §2.1, §2.2 and §2.8).
//!
//! The platform writes these documents and the SDK reads them, so both directions live here:
//! [`Envelope`] is the outer `<xml><AppId/><Encrypt/></xml>` (or `<ToUserName/>`) wrapper, and
//! [`PushEvent`] the decrypted document, one variant per `InfoType`, with [`PushEvent::Unknown`]
//! for the InfoTypes this crate does not model (other fast-register flows, trial mini programs,
//! ICP, …) so that a new InfoType never breaks a receiver.
//!
//! The reader is deliberately forgiving, because every observed variant must parse:
//! - values with or without `<![CDATA[…]]>` (real pushes use CDATA, the docs do not), with
//!   surrounding whitespace (trimmed: no value here can begin or end with whitespace);
//! - unknown extra elements, comments, an XML declaration;
//! - WeChat's own doc bug: the `authorized`/`updateauthorized` examples end with `<xml>` instead
//!   of `</xml>`. A document whose last tag is such a second `<xml>` is read as if the end of
//!   input closed it. Any other unterminated document is an error.
//!
//! Only the direct children of the root are read; the root must be `<xml>`.

use std::borrow::Cow;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::Reader;

/// The root element of every push document.
const ROOT: &str = "xml";

/// `InfoType` of the ticket push sent every 10 minutes.
pub const INFO_COMPONENT_VERIFY_TICKET: &str = "component_verify_ticket";
/// `InfoType` of a new authorisation.
pub const INFO_AUTHORIZED: &str = "authorized";
/// `InfoType` of a changed authorisation (sent only if the granted sets changed).
pub const INFO_UPDATE_AUTHORIZED: &str = "updateauthorized";
/// `InfoType` of a revoked authorisation.
pub const INFO_UNAUTHORIZED: &str = "unauthorized";

/// Why a push document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The input is not well-formed XML.
    #[error("malformed push XML: {0}")]
    Xml(String),
    /// The input has no root element, or the root is not `<xml>`.
    #[error("push XML must have a single <xml> root element")]
    NotXmlRoot,
    /// The input ends before the root is closed (other than by WeChat's `<xml>` doc bug).
    #[error("push XML ends before </xml>")]
    Unterminated,
    /// A field the InfoType requires is absent.
    #[error("push XML lacks <{0}>")]
    MissingField(&'static str),
    /// A numeric field does not hold an integer.
    #[error("<{field}> is not an integer: {value:?}")]
    BadNumber {
        /// The element name.
        field: &'static str,
        /// Its text (at most 64 bytes shown).
        value: String,
    },
}

/// The outer document of an encrypted push.
///
/// Authorisation-event pushes carry `<AppId>` (the component appid); message pushes carry
/// `<ToUserName>` instead, which is not kept: only `Encrypt` matters to a receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `<AppId>`, the component appid; empty when the envelope has none (message pushes).
    pub app_id: String,
    /// `<Encrypt>`, the Base64 ciphertext (see [`crate::crypto`]).
    pub encrypt: String,
}

impl Envelope {
    /// Reads an envelope; `<Encrypt>` is the only required element.
    pub fn parse(xml: &str) -> Result<Envelope, PushError> {
        let fields = Fields::parse(xml)?;
        Ok(Envelope {
            app_id: fields.get("AppId").unwrap_or_default().to_owned(),
            encrypt: fields.require("Encrypt")?.to_owned(),
        })
    }

    /// The envelope as the platform POSTs it: `<xml><AppId><![CDATA[…]]></AppId><Encrypt>…`
    /// (without `<AppId>` when `app_id` is empty).
    pub fn to_xml(&self) -> String {
        let mut out = XmlOut::new();
        if !self.app_id.is_empty() {
            out.cdata("AppId", &self.app_id);
        }
        out.cdata("Encrypt", &self.encrypt);
        out.finish()
    }
}

/// A decrypted authorisation-event push, by `InfoType`. `Debug` masks the ticket and the codes,
/// and an unknown InfoType's XML is shown through [`crate::redact::text`].
#[derive(Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// `component_verify_ticket`: the ticket needed for `api_component_token`.
    ComponentVerifyTicket {
        /// The component appid.
        app_id: String,
        /// Unix seconds.
        create_time: i64,
        /// `ComponentVerifyTicket`, valid 12 hours.
        ticket: String,
    },
    /// `authorized`: an account granted permission sets to the component.
    Authorized {
        /// The component appid.
        app_id: String,
        /// Unix seconds.
        create_time: i64,
        /// The authorising account (OA or mini program).
        authorizer_appid: String,
        /// For `api_query_auth`.
        authorization_code: String,
        /// Absolute unix time (despite the docs' "单位秒"), about 1 h after `create_time`.
        authorization_code_expired_time: i64,
        /// The pre-auth code of the authorisation page; empty if the push names none.
        pre_auth_code: String,
    },
    /// `updateauthorized`: the granted sets changed. Same fields as [`PushEvent::Authorized`].
    UpdateAuthorized {
        /// The component appid.
        app_id: String,
        /// Unix seconds.
        create_time: i64,
        /// The authorising account (OA or mini program).
        authorizer_appid: String,
        /// For `api_query_auth`.
        authorization_code: String,
        /// Absolute unix time.
        authorization_code_expired_time: i64,
        /// The pre-auth code of the authorisation page; empty if the push names none.
        pre_auth_code: String,
    },
    /// `unauthorized`: the account revoked the authorisation.
    Unauthorized {
        /// The component appid.
        app_id: String,
        /// Unix seconds.
        create_time: i64,
        /// The account that revoked.
        authorizer_appid: String,
    },
    /// Any other InfoType, kept whole for the caller.
    Unknown {
        /// `<AppId>`, the component appid; empty if the document has none.
        app_id: String,
        /// The `InfoType` text.
        info_type: String,
        /// The document as received.
        raw_xml: String,
    },
}

impl std::fmt::Debug for PushEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::component::Masked;
        match self {
            PushEvent::ComponentVerifyTicket {
                app_id,
                create_time,
                ticket,
            } => f
                .debug_struct("ComponentVerifyTicket")
                .field("app_id", app_id)
                .field("create_time", create_time)
                .field("ticket", &Masked(ticket))
                .finish(),
            PushEvent::Authorized {
                app_id,
                create_time,
                authorizer_appid,
                authorization_code,
                authorization_code_expired_time,
                pre_auth_code,
            }
            | PushEvent::UpdateAuthorized {
                app_id,
                create_time,
                authorizer_appid,
                authorization_code,
                authorization_code_expired_time,
                pre_auth_code,
            } => f
                .debug_struct(match self {
                    PushEvent::Authorized { .. } => "Authorized",
                    _ => "UpdateAuthorized",
                })
                .field("app_id", app_id)
                .field("create_time", create_time)
                .field("authorizer_appid", authorizer_appid)
                .field("authorization_code", &Masked(authorization_code))
                .field(
                    "authorization_code_expired_time",
                    authorization_code_expired_time,
                )
                .field("pre_auth_code", &Masked(pre_auth_code))
                .finish(),
            PushEvent::Unauthorized {
                app_id,
                create_time,
                authorizer_appid,
            } => f
                .debug_struct("Unauthorized")
                .field("app_id", app_id)
                .field("create_time", create_time)
                .field("authorizer_appid", authorizer_appid)
                .finish(),
            PushEvent::Unknown {
                app_id,
                info_type,
                raw_xml,
            } => f
                .debug_struct("Unknown")
                .field("app_id", app_id)
                .field("info_type", info_type)
                .field("raw_xml", &crate::redact::text(raw_xml))
                .finish(),
        }
    }
}

impl PushEvent {
    /// Reads a decrypted push. An unknown InfoType gives [`PushEvent::Unknown`]; a known one
    /// missing a required field, or with a non-integer time, is an error.
    pub fn parse(xml: &str) -> Result<PushEvent, PushError> {
        let fields = Fields::parse(xml)?;
        let info_type = fields.require("InfoType")?;
        let event = match info_type {
            INFO_COMPONENT_VERIFY_TICKET => PushEvent::ComponentVerifyTicket {
                app_id: fields.require("AppId")?.to_owned(),
                create_time: fields.number("CreateTime")?,
                ticket: fields.require("ComponentVerifyTicket")?.to_owned(),
            },
            INFO_AUTHORIZED | INFO_UPDATE_AUTHORIZED => {
                let app_id = fields.require("AppId")?.to_owned();
                let create_time = fields.number("CreateTime")?;
                let authorizer_appid = fields.require("AuthorizerAppid")?.to_owned();
                let authorization_code = fields.require("AuthorizationCode")?.to_owned();
                let authorization_code_expired_time =
                    fields.number("AuthorizationCodeExpiredTime")?;
                let pre_auth_code = fields.get("PreAuthCode").unwrap_or_default().to_owned();
                if info_type == INFO_AUTHORIZED {
                    PushEvent::Authorized {
                        app_id,
                        create_time,
                        authorizer_appid,
                        authorization_code,
                        authorization_code_expired_time,
                        pre_auth_code,
                    }
                } else {
                    PushEvent::UpdateAuthorized {
                        app_id,
                        create_time,
                        authorizer_appid,
                        authorization_code,
                        authorization_code_expired_time,
                        pre_auth_code,
                    }
                }
            }
            INFO_UNAUTHORIZED => PushEvent::Unauthorized {
                app_id: fields.require("AppId")?.to_owned(),
                create_time: fields.number("CreateTime")?,
                authorizer_appid: fields.require("AuthorizerAppid")?.to_owned(),
            },
            other => PushEvent::Unknown {
                app_id: fields.get("AppId").unwrap_or_default().to_owned(),
                info_type: other.to_owned(),
                raw_xml: xml.to_owned(),
            },
        };
        Ok(event)
    }

    /// The `InfoType` of this event.
    pub fn info_type(&self) -> &str {
        match self {
            PushEvent::ComponentVerifyTicket { .. } => INFO_COMPONENT_VERIFY_TICKET,
            PushEvent::Authorized { .. } => INFO_AUTHORIZED,
            PushEvent::UpdateAuthorized { .. } => INFO_UPDATE_AUTHORIZED,
            PushEvent::Unauthorized { .. } => INFO_UNAUTHORIZED,
            PushEvent::Unknown { info_type, .. } => info_type,
        }
    }

    /// `<AppId>`: the component appid the push is for (empty only for an
    /// [`PushEvent::Unknown`] document without one).
    pub fn app_id(&self) -> &str {
        match self {
            PushEvent::ComponentVerifyTicket { app_id, .. }
            | PushEvent::Authorized { app_id, .. }
            | PushEvent::UpdateAuthorized { app_id, .. }
            | PushEvent::Unauthorized { app_id, .. }
            | PushEvent::Unknown { app_id, .. } => app_id,
        }
    }

    /// The decrypted document as the platform pushes it: string values in CDATA, `CreateTime`
    /// and `AuthorizationCodeExpiredTime` as plain numbers. [`PushEvent::Unknown`] gives back
    /// its `raw_xml`.
    pub fn to_xml(&self) -> String {
        let mut out = XmlOut::new();
        match self {
            PushEvent::ComponentVerifyTicket {
                app_id,
                create_time,
                ticket,
            } => {
                out.head(app_id, *create_time, INFO_COMPONENT_VERIFY_TICKET);
                out.cdata("ComponentVerifyTicket", ticket);
            }
            PushEvent::Authorized {
                app_id,
                create_time,
                authorizer_appid,
                authorization_code,
                authorization_code_expired_time,
                pre_auth_code,
            }
            | PushEvent::UpdateAuthorized {
                app_id,
                create_time,
                authorizer_appid,
                authorization_code,
                authorization_code_expired_time,
                pre_auth_code,
            } => {
                out.head(app_id, *create_time, self.info_type());
                out.cdata("AuthorizerAppid", authorizer_appid);
                out.cdata("AuthorizationCode", authorization_code);
                out.number(
                    "AuthorizationCodeExpiredTime",
                    *authorization_code_expired_time,
                );
                out.cdata("PreAuthCode", pre_auth_code);
            }
            PushEvent::Unauthorized {
                app_id,
                create_time,
                authorizer_appid,
            } => {
                out.head(app_id, *create_time, INFO_UNAUTHORIZED);
                out.cdata("AuthorizerAppid", authorizer_appid);
            }
            PushEvent::Unknown { raw_xml, .. } => return raw_xml.clone(),
        }
        out.finish()
    }
}

/// The direct children of the `<xml>` root, in document order, values trimmed.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(xml: &str) -> Result<Fields, PushError> {
        // quick-xml checks that end tags match; an unclosed document simply reaches `Eof`,
        // where the depth below tells the doc-bug ending from a truncated document.
        let mut reader = Reader::from_str(xml);
        reader.config_mut().check_end_names = true;

        let mut fields = Vec::new();
        // Depth 0: before the root; 1: inside <xml>; 2: inside a field; 3+: nested in a field.
        let mut depth = 0usize;
        let mut current: Option<(String, String)> = None;
        // Whether the last tag seen was a `<xml>` start at depth 1 (WeChat's broken ending).
        let mut last_tag_is_stray_root = false;

        loop {
            let event = reader
                .read_event()
                .map_err(|e| PushError::Xml(e.to_string()))?;
            match event {
                Event::Start(start) => {
                    let name = start.name().as_ref().to_owned();
                    match depth {
                        0 if name == ROOT => {}
                        0 => return Err(PushError::NotXmlRoot),
                        1 => {
                            last_tag_is_stray_root = name == ROOT;
                            current = Some((name, String::new()));
                        }
                        _ => last_tag_is_stray_root = false,
                    }
                    depth += 1;
                }
                Event::Empty(start) => {
                    let name = start.name().as_ref().to_owned();
                    match depth {
                        0 if name == ROOT => return Ok(Fields(fields)),
                        0 => return Err(PushError::NotXmlRoot),
                        1 => fields.push((name, String::new())),
                        _ => {}
                    }
                    last_tag_is_stray_root = false;
                }
                Event::End(_) => {
                    last_tag_is_stray_root = false;
                    match depth {
                        // quick-xml reports an unmatched end tag itself.
                        0 => return Err(PushError::NotXmlRoot),
                        1 => return Ok(Fields(fields)),
                        2 => {
                            if let Some((name, value)) = current.take() {
                                fields.push((name, value.trim().to_owned()));
                            }
                        }
                        _ => {}
                    }
                    depth -= 1;
                }
                Event::Text(text) => {
                    let content = text.xml10_content();
                    match (depth, current.as_mut()) {
                        (2, Some((_, value))) => value.push_str(&content),
                        (0, _) if !content.trim().is_empty() => return Err(PushError::NotXmlRoot),
                        _ => {}
                    }
                    if !content.trim().is_empty() {
                        last_tag_is_stray_root = false;
                    }
                }
                Event::CData(cdata) => {
                    if let (2, Some((_, value))) = (depth, current.as_mut()) {
                        value.push_str(&cdata.into_inner());
                    }
                    last_tag_is_stray_root = false;
                }
                Event::GeneralRef(reference) => {
                    let resolved: Cow<'_, str> = match reference.resolve_char_ref() {
                        Ok(Some(ch)) => Cow::Owned(ch.to_string()),
                        Ok(None) => match resolve_predefined_entity(&reference) {
                            Some(s) => Cow::Borrowed(s),
                            None => Cow::Owned(format!("&{};", &*reference)),
                        },
                        Err(e) => return Err(PushError::Xml(e.to_string())),
                    };
                    match (depth, current.as_mut()) {
                        (2, Some((_, value))) => value.push_str(&resolved),
                        (0, _) => return Err(PushError::NotXmlRoot),
                        _ => {}
                    }
                    last_tag_is_stray_root = false;
                }
                Event::Eof => {
                    return match depth {
                        0 => Err(PushError::NotXmlRoot),
                        2 if last_tag_is_stray_root => Ok(Fields(fields)),
                        _ => Err(PushError::Unterminated),
                    };
                }
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }

    /// The first value of `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn require(&self, name: &'static str) -> Result<&str, PushError> {
        self.get(name).ok_or(PushError::MissingField(name))
    }

    fn number(&self, name: &'static str) -> Result<i64, PushError> {
        let value = self.require(name)?;
        value.parse().map_err(|_| PushError::BadNumber {
            field: name,
            value: truncate(value, 64).to_owned(),
        })
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A minimal writer for the flat documents above.
struct XmlOut(String);

impl XmlOut {
    fn new() -> XmlOut {
        XmlOut(String::from("<xml>"))
    }

    fn head(&mut self, app_id: &str, create_time: i64, info_type: &str) {
        self.cdata("AppId", app_id);
        self.number("CreateTime", create_time);
        self.cdata("InfoType", info_type);
    }

    /// `<name><![CDATA[value]]></name>`; a `]]>` inside the value is split across two
    /// sections, which a reader joins back.
    fn cdata(&mut self, name: &str, value: &str) {
        self.0.push('<');
        self.0.push_str(name);
        self.0.push_str("><![CDATA[");
        self.0.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
        self.0.push_str("]]></");
        self.0.push_str(name);
        self.0.push('>');
    }

    fn number(&mut self, name: &str, value: i64) {
        self.0.push_str(&format!("<{name}>{value}</{name}>"));
    }

    fn finish(mut self) -> String {
        self.0.push_str("</xml>");
        self.0
    }
}

#[cfg(test)]
mod tests {
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
        let plain =
            crypto::open(&key, "tok", "1", "2", &env.encrypt, &signature, component).unwrap();
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
}
