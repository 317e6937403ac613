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
        use crate::redact::Masked;
        match self {
            PushEvent::ComponentVerifyTicket {
                app_id,
                create_time,
                ticket,
            } => f
                .debug_struct("ComponentVerifyTicket")
                .field("app_id", app_id)
                .field("create_time", create_time)
                .field("ticket", &Masked::of(ticket))
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
                .field("authorization_code", &Masked::of(authorization_code))
                .field(
                    "authorization_code_expired_time",
                    authorization_code_expired_time,
                )
                .field("pre_auth_code", &Masked::of(pre_auth_code))
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
mod tests;
