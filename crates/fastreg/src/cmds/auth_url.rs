//! `fastreg auth-url`: the fastregisterauth link an Official Account's admin opens, or with
//! `--login` the componentloginpage link; built by the SDK, checked against the auth domain.

use clap::Args;
use fastreg_client::{AuthType, Client};

use super::settings::{ClientArgs, Profile, Session};

/// Flags of `fastreg auth-url`.
#[derive(Args)]
pub struct AuthUrlArgs {
    /// The Official Account whose admin confirms the fast registration (fastregisterauth).
    #[arg(
        long,
        value_name = "APPID",
        required_unless_present = "login",
        conflicts_with = "login"
    )]
    oa: Option<String>,
    /// Where the admin's browser returns; must be on the component's auth domain. It is
    /// percent-encoded in the link; WeChat appends `ticket=…` (fastregisterauth) or
    /// `auth_code=…` (componentloginpage).
    #[arg(long, value_name = "URI")]
    redirect_uri: String,
    /// Reuse the OA's WeChat verification for the new Mini Program: 1 or 0 [default: 1].
    /// Government, media and other organisations must use 1 (else 61056).
    #[arg(long, value_name = "1|0", value_parser = ["1", "0"], conflicts_with = "login")]
    copy_wx_verify: Option<String>,
    /// Print the componentloginpage link instead (where an account's admin authorises the
    /// component, granting permission set 27 among others).
    #[arg(long)]
    login: bool,
    /// With --login: the pre_auth_code to use. When omitted, one is created
    /// (api_create_preauthcode; needs the component secret and a verify ticket).
    #[arg(long, value_name = "CODE", requires = "login")]
    pre_auth_code: Option<String>,
    /// With --login: which accounts the page offers: 1 Official Accounts, 2 Mini Programs,
    /// 3 both [default: 3].
    #[arg(long, value_name = "1|2|3", value_parser = ["1", "2", "3"], requires = "login")]
    auth_type: Option<String>,
    /// With --login: fix the account to authorise (its appid).
    #[arg(long, value_name = "APPID", requires = "login")]
    biz_appid: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

fastreg_wire::debug_masked!(AuthUrlArgs {
    oa,
    redirect_uri,
    copy_wx_verify,
    login,
    pre_auth_code masked,
    auth_type,
    biz_appid,
    client,
});

/// Runs `fastreg auth-url`.
pub(super) async fn run(args: AuthUrlArgs) -> anyhow::Result<()> {
    let profile = Profile::resolve(&args.client)?;
    let appid = profile.component_appid()?.to_string();
    profile.auth_domain()?;
    if !args.login {
        let oa = args.oa.as_deref().unwrap_or_default();
        let copy = args.copy_wx_verify.as_deref() != Some("0");
        let url = url_only_client(&profile, &appid)?
            .fast_register_auth_url(oa, copy, &args.redirect_uri)
            .map_err(|e| profile.sdk_error(e))?;
        out!("{url}");
        return Ok(());
    }
    let auth_type = match args.auth_type.as_deref() {
        Some("1") => AuthType::OfficialAccounts,
        Some("2") => AuthType::MiniPrograms,
        _ => AuthType::Both,
    };
    let biz = args.biz_appid.as_deref();
    let (profile, client, code) = match args.pre_auth_code.clone() {
        Some(code) => {
            let client = url_only_client(&profile, &appid)?;
            (profile, client, code)
        }
        None => {
            let Session {
                client, profile, ..
            } = profile.connect(|b| b).await?;
            // Check the redirect before spending a pre_auth_code on it.
            client
                .component_login_page_url("-", &args.redirect_uri, auth_type, biz)
                .map_err(|e| profile.sdk_error(e))?;
            let code = client
                .create_pre_auth_code()
                .await
                .map_err(|e| profile.sdk_error(e))?
                .pre_auth_code;
            (profile, client, code)
        }
    };
    let url = client
        .component_login_page_url(&code, &args.redirect_uri, auth_type, biz)
        .map_err(|e| profile.sdk_error(e))?;
    out!("{url}");
    Ok(())
}

/// A client that only builds page URLs: no call is made, so the secret is not needed (the SDK
/// requires a non-empty one; a placeholder stands in when none is configured).
fn url_only_client(profile: &Profile, appid: &str) -> anyhow::Result<Client> {
    let secret = profile
        .component_secret
        .as_ref()
        .map_or("not-needed-for-urls", |s| s.0.as_str());
    profile
        .builder(appid, secret)
        .build()
        .map_err(|e| profile.sdk_error(e))
}
