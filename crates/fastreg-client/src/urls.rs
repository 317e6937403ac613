//! The two admin-facing page URLs a component sends a browser to. Both refuse a
//! `redirect_uri` outside the component's auth domain before any admin sees WeChat's error
//! page (61060), and always percent-encode it (PowerWeChat does not, and emits
//! `copy_wx_verify=true`; WeChat documents `1`/`0`).

use crate::client::Client;
use crate::error::{Error, Result};

/// Which accounts componentloginpage offers the admin (`auth_type`).
///
/// # Examples
/// ```no_run
/// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
/// let code = client.create_pre_auth_code().await?.pre_auth_code;
/// let url = client.component_login_page_url(&code, "https://platform.example.com/cb", fastreg_client::AuthType::Both, None)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// Official Accounts only (1).
    OfficialAccounts,
    /// Mini Programs only (2).
    MiniPrograms,
    /// Both (3).
    Both,
}

impl AuthType {
    fn code(self) -> &'static str {
        match self {
            AuthType::OfficialAccounts => "1",
            AuthType::MiniPrograms => "2",
            AuthType::Both => "3",
        }
    }
}

impl Client {
    fn checked_redirect(&self, redirect_uri: &str) -> Result<()> {
        let domain = self.inner.auth_domain.as_deref().ok_or_else(|| {
            Error::Config("set ClientBuilder::auth_domain to build authorisation URLs".into())
        })?;
        let url = url::Url::parse(redirect_uri)
            .map_err(|e| Error::Config(format!("redirect_uri {redirect_uri:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "redirect_uri {redirect_uri:?} must be http or https"
            )));
        }
        let host = url.host_str().unwrap_or_default();
        let (want_host, want_port) = match domain.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => (h, p.parse::<u16>().ok()),
            _ => (domain, None),
        };
        let port_ok = want_port.is_none_or(|p| url.port_or_known_default() == Some(p));
        if !host.eq_ignore_ascii_case(want_host) || !port_ok {
            return Err(Error::RedirectNotAllowed {
                host: host.to_string(),
                auth_domain: domain.to_string(),
            });
        }
        Ok(())
    }

    fn page_url(&self, path: &str, pairs: &[(&str, &str)]) -> String {
        let mut url = crate::client::with_path(&self.inner.page_base, path);
        url.query_pairs_mut().extend_pairs(pairs);
        url.to_string()
    }

    /// The fastregisterauth link for an OA's admin: `copy_wx_verify` as `1`/`0`,
    /// `redirect_uri` percent-encoded. Put it in a page on your auth domain as a link (WeChat
    /// refuses it when reached through a server-side redirect).
    ///
    /// # Errors
    /// [`Error::RedirectNotAllowed`] for a redirect outside the auth domain;
    /// [`Error::Config`] when no auth domain is configured or the URI is not http(s).
    ///
    /// # Examples
    /// ```no_run
    /// # fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// let link = client.fast_register_auth_url(
    ///     "wx0a00000000000001",
    ///     true,
    ///     "https://platform.example.com/fastregister/callback?merchant=42",
    /// )?;
    /// # Ok(()) }
    /// ```
    pub fn fast_register_auth_url(
        &self,
        oa_appid: &str,
        copy_wx_verify: bool,
        redirect_uri: &str,
    ) -> Result<String> {
        self.checked_redirect(redirect_uri)?;
        Ok(self.page_url(
            fastreg_wire::paths::FAST_REGISTER_AUTH,
            &[
                ("appid", oa_appid),
                ("component_appid", &self.inner.component_appid),
                ("copy_wx_verify", if copy_wx_verify { "1" } else { "0" }),
                ("redirect_uri", redirect_uri),
            ],
        ))
    }

    /// The componentloginpage link where an account's admin authorises the component.
    ///
    /// # Errors
    /// As [`Client::fast_register_auth_url`].
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// use fastreg_client::AuthType;
    /// let code = client.create_pre_auth_code().await?.pre_auth_code;
    /// let link = client.component_login_page_url(&code, "https://platform.example.com/authorized", AuthType::OfficialAccounts, None)?;
    /// # Ok(()) }
    /// ```
    pub fn component_login_page_url(
        &self,
        pre_auth_code: &str,
        redirect_uri: &str,
        auth_type: AuthType,
        biz_appid: Option<&str>,
    ) -> Result<String> {
        self.checked_redirect(redirect_uri)?;
        let mut pairs = vec![
            ("component_appid", self.inner.component_appid.as_str()),
            ("pre_auth_code", pre_auth_code),
            ("redirect_uri", redirect_uri),
            ("auth_type", auth_type.code()),
        ];
        if let Some(b) = biz_appid {
            pairs.push(("biz_appid", b));
        }
        Ok(self.page_url(fastreg_wire::paths::COMPONENT_LOGIN_PAGE, &pairs))
    }
}
