//! Keeping credentials out of error texts, `Debug` output and log lines, on both ends.
//!
//! Tokens, codes and tickets travel in query strings (`?component_access_token=…`) and in JSON
//! bodies (`"authorizer_refresh_token":"…"`), so any text that may quote a URL or a body passes
//! through [`query`] or [`text`] before it is shown. The rule is by name and errs on the side of
//! hiding: a parameter or key whose name mentions a token, secret, code, ticket, key, password or
//! signature is masked (`errcode` excepted: it is WeChat's answer, not a credential).

/// What a masked value is replaced with.
pub const MASK: &str = "***";

/// `Debug` that masks a credential: `"***"`, or `""` when it is empty and `None` when it is
/// absent (whether a credential was there at all is worth seeing).
pub struct Masked<'a>(pub Option<&'a str>);

impl<'a> Masked<'a> {
    /// Masks `value` (a `String`, a `str` or an `Option<String>`).
    pub fn of<T: Credential + ?Sized>(value: &'a T) -> Masked<'a> {
        Masked(value.shown())
    }
}

impl std::fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("None"),
            Some("") => std::fmt::Debug::fmt("", f),
            Some(_) => std::fmt::Debug::fmt(MASK, f),
        }
    }
}

/// A field that holds a credential, as [`Masked`] sees it.
pub trait Credential {
    /// The value, `None` when absent.
    fn shown(&self) -> Option<&str>;
}

impl Credential for str {
    fn shown(&self) -> Option<&str> {
        Some(self)
    }
}

impl Credential for String {
    fn shown(&self) -> Option<&str> {
        Some(self)
    }
}

impl Credential for Option<String> {
    fn shown(&self) -> Option<&str> {
        self.as_deref()
    }
}

/// Implements `Debug` for a struct, field by field in the order given, masking the fields
/// marked `masked` ([`Masked`]): tokens, secrets, tickets, codes and their hashes never reach a
/// log line, an error text or an assertion's message through `{:?}`. Every field must be
/// named (a field added later and not named here fails to compile).
///
/// # Examples
/// ```
/// #[derive(Default)]
/// struct Grant { appid: String, refresh_token: String }
/// fastreg_wire::debug_masked!(Grant { appid, refresh_token masked });
/// let g = Grant { appid: "wx1".into(), refresh_token: "s3cret".into() };
/// assert_eq!(format!("{g:?}"), r#"Grant { appid: "wx1", refresh_token: "***" }"#);
/// assert_eq!(format!("{:?}", fastreg_wire::redact::Masked::of("s3cret")), r#""***""#);
/// ```
#[macro_export]
macro_rules! debug_masked {
    ($ty:ident { $($field:ident $($masked:ident)?),* $(,)? }) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let $ty { $($field: _),* } = self;
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), $crate::debug_masked!(@value self.$field $(, $masked)?)))*
                    .finish()
            }
        }
    };
    (@value $v:expr) => { &$v };
    (@value $v:expr, masked) => { &$crate::redact::Masked::of(&$v) };
}

/// Whether a query parameter, JSON key or settings key names a credential.
///
/// # Examples
/// ```
/// use fastreg_wire::redact::is_sensitive;
/// assert!(is_sensitive("authorizer_refresh_token"));
/// assert!(is_sensitive("pre_auth_code"));
/// assert!(!is_sensitive("component_appid"));
/// assert!(!is_sensitive("errcode"));
/// ```
pub fn is_sensitive(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if name == "errcode" {
        return false;
    }
    [
        "token",
        "secret",
        "code",
        "ticket",
        "key",
        "password",
        "passwd",
        "signature",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// A query string with the values of sensitive parameters masked; the rest kept as sent.
///
/// # Examples
/// ```
/// assert_eq!(
///     fastreg_wire::redact::query("component_access_token=abc&component_appid=wx1"),
///     "component_access_token=***&component_appid=wx1"
/// );
/// ```
pub fn query(q: &str) -> String {
    // Built in place: the platform runs this for every request.
    let mut out = String::with_capacity(q.len());
    for (i, pair) in q.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if is_sensitive(&decoded(name)) => {
                out.push_str(name);
                out.push('=');
                out.push_str(MASK);
            }
            _ => out.push_str(pair),
        }
    }
    out
}

fn decoded(name: &str) -> String {
    form_urlencoded::parse(name.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default()
}

/// Free text (an error message, the start of a body, an HTML page) with every value that follows
/// a sensitive name masked, in the three shapes credentials take in text: `name=value` (query
/// strings, form bodies), `"name":"value"` / `"name": value` (JSON) and `<Name>value</Name>` or
/// `<Name><![CDATA[value]]></Name>` (push XML).
///
/// # Examples
/// ```
/// use fastreg_wire::redact::text;
/// assert_eq!(
///     text(r#"error for url (http://h/x?access_token=abc&appid=wx1)"#),
///     "error for url (http://h/x?access_token=***&appid=wx1)"
/// );
/// assert_eq!(
///     text(r#"{"authorizer_refresh_token":"r@@@1","expires_in":"x"}"#),
///     r#"{"authorizer_refresh_token":"***","expires_in":"x"}"#
/// );
/// assert_eq!(text("<ComponentVerifyTicket><![CDATA[t]]></ComponentVerifyTicket>"),
///            "<ComponentVerifyTicket>***</ComponentVerifyTicket>");
/// ```
pub fn text(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if !is_name_byte(bytes[i]) {
            let ch = s[i..].chars().next().expect("in bounds");
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        let start = i;
        while i < bytes.len() && is_name_byte(bytes[i]) {
            i += 1;
        }
        let name = &s[start..i];
        out.push_str(name);
        if !is_sensitive(name) {
            continue;
        }
        i = mask_value(s, i, start, &mut out);
    }
    out
}

/// A parser's message with every double-quoted value masked and the rest (field names in
/// backticks, positions) kept: serde quotes the value it could not read, which may be a credential.
///
/// # Examples
/// ```
/// assert_eq!(
///     fastreg_wire::redact::quoted(r#"invalid type: string "abc", expected u32 at line 1 column 9"#),
///     r#"invalid type: string "***", expected u32 at line 1 column 9"#
/// );
/// ```
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, part) in s.split('"').enumerate() {
        if i > 0 {
            out.push('"');
        }
        // Odd parts sit between a pair of quotes (an unpaired last quote hides the rest too).
        out.push_str(if i % 2 == 1 { MASK } else { part });
    }
    text(&out)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Writes what follows a sensitive `name` (ending at `end`) with its value masked; returns where
/// scanning goes on.
fn mask_value(s: &str, end: usize, start: usize, out: &mut String) -> usize {
    let bytes = s.as_bytes();
    let rest = &s[end..];
    // `name=value`, as in a query string or a form.
    if let Some(after) = rest.strip_prefix('=') {
        out.push('=');
        out.push_str(MASK);
        let len = after
            .find(|c: char| {
                c == '&'
                    || c == '"'
                    || c == '\''
                    || c == '<'
                    || c == ')'
                    || c.is_whitespace()
                    || c == ','
            })
            .unwrap_or(after.len());
        return end + 1 + len;
    }
    // `"name": value` / `"name":"value"`, as in JSON.
    if start > 0 && bytes[start - 1] == b'"' && rest.starts_with('"') {
        let after_quote = &rest[1..];
        let trimmed = after_quote.trim_start();
        if let Some(value) = trimmed.strip_prefix(':') {
            let ws = value.len() - value.trim_start().len();
            let value = value.trim_start();
            let prefix_len = 1 + (after_quote.len() - trimmed.len()) + 1 + ws;
            out.push_str(&rest[..prefix_len]);
            let consumed = if let Some(inner) = value.strip_prefix('"') {
                out.push('"');
                out.push_str(MASK);
                out.push('"');
                1 + string_len(inner)
            } else if value.starts_with(['{', '[']) || value.starts_with("null") {
                // A nested object or array is scanned on its own: its keys decide.
                0
            } else {
                out.push_str(MASK);
                value
                    .find(|c: char| c == ',' || c == '}' || c == ']' || c.is_whitespace())
                    .unwrap_or(value.len())
            };
            return end + prefix_len + consumed;
        }
        return end;
    }
    // `<Name>value</Name>` or `<Name><![CDATA[value]]></Name>`, as in push XML.
    if start > 0 && bytes[start - 1] == b'<' && rest.starts_with('>') {
        let name = &s[start..end];
        let close = format!("</{name}>");
        if let Some(pos) = rest[1..].find(&close) {
            out.push('>');
            out.push_str(MASK);
            return end + 1 + pos;
        }
    }
    end
}

/// The length of a JSON string's body up to and including its closing quote (escapes skipped);
/// the whole rest when it is cut off.
fn string_len(inner: &str) -> usize {
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_masks_tokens_codes_tickets_and_secrets_and_keeps_the_rest() {
        assert_eq!(
            query("component_access_token=abc&component_appid=wx1&access_token=x"),
            "component_access_token=***&component_appid=wx1&access_token=***"
        );
        assert_eq!(
            query("component_appid=wx1&pre_auth_code=p&redirect_uri=https%3A%2F%2Fa&auth_type=3"),
            "component_appid=wx1&pre_auth_code=***&redirect_uri=https%3A%2F%2Fa&auth_type=3"
        );
        assert_eq!(query("ticket=t&appid=wx2"), "ticket=***&appid=wx2");
        assert_eq!(query("offset=0&limit=5&flag"), "offset=0&limit=5&flag");
        assert_eq!(query("access%5Ftoken=x"), "access%5Ftoken=***");
    }

    #[test]
    fn text_masks_credentials_in_urls_json_and_xml_and_keeps_everything_else() {
        let cases = [
            (
                "error sending request for url (http://127.0.0.1:9/cgi-bin/component/api_create_preauthcode?component_access_token=SECRET1)",
                "error sending request for url (http://127.0.0.1:9/cgi-bin/component/api_create_preauthcode?component_access_token=***)",
            ),
            (
                r#"{"errcode":0,"component_access_token":"SECRET2","expires_in":"7200"}"#,
                r#"{"errcode":0,"component_access_token":"***","expires_in":"7200"}"#,
            ),
            (
                r#"{"authorization_info": {"authorizer_access_token" : "SE\"CRET3", "authorizer_refresh_token":"SECRET4"}}"#,
                r#"{"authorization_info": {"authorizer_access_token" : "***", "authorizer_refresh_token":"***"}}"#,
            ),
            (r#"{"pre_auth_code":12345}"#, r#"{"pre_auth_code":***}"#),
            (r#"{"ticket":"SECRET5"#, r#"{"ticket":"***""#),
            (
                "<xml><ComponentVerifyTicket><![CDATA[SECRET6]]></ComponentVerifyTicket><AppId>wx1</AppId></xml>",
                "<xml><ComponentVerifyTicket>***</ComponentVerifyTicket><AppId>wx1</AppId></xml>",
            ),
            (
                "invalid credential, access_token is invalid or not latest rid: 1-2-3",
                "invalid credential, access_token is invalid or not latest rid: 1-2-3",
            ),
            ("missing field `appid` at line 1 column 2", "missing field `appid` at line 1 column 2"),
            ("中文 errcode=40001 编码", "中文 errcode=40001 编码"),
        ];
        for (input, want) in cases {
            assert_eq!(text(input), want, "{input}");
            for secret in ["SECRET", "SE\\\"CRET"] {
                assert!(!text(input).contains(secret), "{input}");
            }
        }
    }
}
