//! What an account's admin does to the world: authorising a component (componentloginpage's
//! confirm), revoking, and confirming a fast registration (fastregisterauth's confirm).

use super::*;

/// `POST /sandbox/v1/authorizations`: what confirming on componentloginpage does.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = serde_json::json!({"component_appid": "wxc0ffee0000000001", "authorizer_appid": "wx0a00000000000001", "permission_sets": [1, 15, 27]}))]
pub struct AuthorizationIn {
    /// The component.
    pub component_appid: String,
    /// The OA (or MP) authorising it.
    pub authorizer_appid: String,
    /// The sets the admin ticks (at least one).
    #[schemars(length(min = 1), inner(range(min = 1, max = PERMISSION_SET_MAX)))]
    pub permission_sets: Vec<i64>,
}

/// Whether an authorisation is new or changed an existing one (which push it causes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationChange {
    /// A new (or previously revoked) authorisation: `authorized`.
    Authorized,
    /// A re-authorisation with other sets: `updateauthorized`.
    Updated,
    /// A re-authorisation with the same sets (no push; the refresh token is still replaced).
    Unchanged,
}

/// What an authorisation produced.
#[derive(Clone, Serialize)]
pub struct AuthorizeOutcome {
    /// The auth_code to exchange with api_query_auth.
    pub auth_code: String,
    /// Its lifetime.
    pub expires_in: i64,
    /// The authorisation as stored.
    pub authorization: Authorization,
    /// New, updated or unchanged.
    pub change: AuthorizationChange,
    /// Sets asked for but not granted (27 held by another component).
    pub withheld_sets: Vec<i64>,
}

fastreg_wire::debug_masked!(AuthorizeOutcome { auth_code masked, expires_in, authorization, change, withheld_sets });

/// Grants (or re-grants) an authorisation. Set 27 is left out while another component holds
/// it for the account; a re-authorisation replaces the refresh token (the old one answers
/// 61023).
///
/// # Errors
/// 404 unknown component or account, 47001 no sets.
pub fn authorize(
    tx: &mut dyn Tx,
    input: AuthorizationIn,
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<AuthorizeOutcome> {
    authorize_with_pre_auth_code(tx, input, "", now, lifetimes)
}

/// [`authorize`] as componentloginpage does it, naming the pre_auth_code spent (it appears in
/// the `authorized` / `updateauthorized` push).
///
/// # Errors
/// As [`authorize`].
pub fn authorize_with_pre_auth_code(
    tx: &mut dyn Tx,
    input: AuthorizationIn,
    pre_auth_code: &str,
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<AuthorizeOutcome> {
    let component = component(tx, &input.component_appid)?;
    let kind = if tx.official_account(&input.authorizer_appid)?.is_some() {
        AuthorizerKind::OfficialAccount
    } else if tx.mini_program(&input.authorizer_appid)?.is_some() {
        AuthorizerKind::MiniProgram
    } else {
        return Err(not_found(
            ErrCode::InvalidAppId,
            "authorizer_appid names no account in this world",
        ));
    };
    if input.permission_sets.is_empty() {
        return Err(bad("permission_sets must not be empty"));
    }
    check_sets(&input.permission_sets)?;
    let holder = tx.set_holder(
        &input.authorizer_appid,
        FAST_REGISTER_SET,
        &input.component_appid,
    )?;
    let sets = rules::sets_to_grant(
        &input.permission_sets,
        &input.component_appid,
        holder.as_deref(),
    );
    if sets.is_empty() {
        // The holder is named: a stored appid (1-64 of [A-Za-z0-9_-]), not one this request
        // sent (it is another component than component_appid).
        return Err(Error::sandbox(
            409,
            ErrCode::DataFormatError,
            format!(
                "nothing to grant: component {} holds permission set 27 for authorizer_appid",
                holder.as_deref().unwrap_or("(another)")
            ),
        ));
    }
    let mut withheld: Vec<i64> = input
        .permission_sets
        .iter()
        .copied()
        .filter(|s| !sets.contains(s))
        .collect();
    withheld.sort_unstable();
    withheld.dedup();
    let previous = tx
        .authorization(&input.component_appid, &input.authorizer_appid)?
        .filter(|a| !a.revoked);
    let change = match &previous {
        None => AuthorizationChange::Authorized,
        Some(p) if p.permission_sets == sets => AuthorizationChange::Unchanged,
        Some(_) => AuthorizationChange::Updated,
    };
    let authorization = Authorization {
        component_appid: input.component_appid.clone(),
        authorizer_appid: input.authorizer_appid.clone(),
        authorizer_kind: kind,
        permission_sets: sets,
        refresh_token: secrets::refresh_token(),
        auth_time: now,
        revoked: false,
    };
    tx.put_authorization(&authorization)?;
    let auth_code = issue_code(
        tx,
        CodeKind::Authorization,
        &input.component_appid,
        &input.authorizer_appid,
        now,
        lifetimes.auth_code,
    )?;
    let event = |update: bool| {
        let (app_id, authorizer_appid) = (component.appid.clone(), input.authorizer_appid.clone());
        let (authorization_code, pre_auth_code) = (auth_code.clone(), pre_auth_code.to_string());
        let authorization_code_expired_time = now + lifetimes.auth_code;
        if update {
            PushEvent::UpdateAuthorized {
                app_id,
                create_time: now,
                authorizer_appid,
                authorization_code,
                authorization_code_expired_time,
                pre_auth_code,
            }
        } else {
            PushEvent::Authorized {
                app_id,
                create_time: now,
                authorizer_appid,
                authorization_code,
                authorization_code_expired_time,
                pre_auth_code,
            }
        }
    };
    // WeChat sends no updateauthorized when the granted sets did not change.
    match change {
        AuthorizationChange::Authorized => outbox::enqueue(tx, &component, &event(false), now)?,
        AuthorizationChange::Updated => outbox::enqueue(tx, &component, &event(true), now)?,
        AuthorizationChange::Unchanged => {}
    }
    Ok(AuthorizeOutcome {
        auth_code,
        expires_in: lifetimes.auth_code,
        authorization,
        change,
        withheld_sets: withheld,
    })
}

/// `POST /sandbox/v1/authorizations/revoke`: the account's admin cancels the authorisation.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationIn {
    /// The component.
    pub component_appid: String,
    /// The OA (or MP) revoking it.
    pub authorizer_appid: String,
}

/// Revokes an authorisation: its access tokens stop working at once (40001), its refresh
/// token answers 61003, and an `unauthorized` push goes to the component.
///
/// # Errors
/// 404 when that pair has no authorisation, 409 when it is revoked already.
pub fn revoke(tx: &mut dyn Tx, input: RevocationIn, now: UnixTime) -> Result<Authorization> {
    let component = component(tx, &input.component_appid)?;
    let mut auth = tx
        .authorization(&input.component_appid, &input.authorizer_appid)?
        .ok_or_else(|| {
            not_found(
                ErrCode::ComponentNotAuthorized,
                "authorizer_appid has no authorisation of component_appid",
            )
        })?;
    if auth.revoked {
        // It exists, and is revoked already: the world's state, not a missing object.
        return Err(Error::sandbox(
            409,
            ErrCode::ComponentNotAuthorized,
            "the authorisation of component_appid by authorizer_appid is revoked already",
        ));
    }
    auth.revoked = true;
    tx.put_authorization(&auth)?;
    // Every access token of the authorisation stops now (superseded ones in their grace
    // period too), and codes not yet exchanged cannot be exchanged after a re-authorisation.
    tx.invalidate_tokens(
        TokenKind::Authorizer(auth.authorizer_kind),
        &auth.component_appid,
        &auth.authorizer_appid,
    )?;
    tx.spend_codes_of(&auth.component_appid, &auth.authorizer_appid, now)?;
    outbox::enqueue(
        tx,
        &component,
        &PushEvent::Unauthorized {
            app_id: component.appid.clone(),
            create_time: now,
            authorizer_appid: auth.authorizer_appid.clone(),
        },
        now,
    )?;
    Ok(auth)
}

/// `POST /sandbox/v1/fastregister-confirmations`: what confirming on fastregisterauth does.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = serde_json::json!({"component_appid": "wxc0ffee0000000001", "appid": "wx0a00000000000001", "copy_wx_verify": 1, "redirect_uri": "https://localhost/cb"}))]
pub struct ConfirmationIn {
    /// The component.
    pub component_appid: String,
    /// The OA whose admin confirms.
    pub appid: String,
    /// Reuse the OA's verification: `1` (or `"1"`, `true`) or `0` (or `"0"`, `false`).
    #[serde(deserialize_with = "de_zero_one")]
    #[schemars(schema_with = "zero_one_schema")]
    pub copy_wx_verify: bool,
    /// Where the admin's browser goes next (host = the component's auth domain).
    pub redirect_uri: String,
}

/// A confirmed fast registration: the ticket and where the browser is sent.
#[derive(Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConfirmationOut {
    /// The fastregister ticket.
    pub ticket: String,
    /// `redirect_uri` with `ticket` appended.
    pub redirect_url: String,
    /// When the ticket expires.
    pub expires_at: UnixTime,
}

fastreg_wire::debug_masked!(ConfirmationOut { ticket masked, redirect_url, expires_at });

/// fastregisterauth's checks, in order: unknown component or OA 47001, redirect host not the
/// auth domain 61060, set 27 not granted to the component 61007. The page and the sandbox call
/// both run them, so they refuse exactly alike.
///
/// # Errors
/// As above.
pub fn check_fast_registration(
    tx: &mut dyn Tx,
    input: &ConfirmationIn,
) -> Result<(Component, OfficialAccount)> {
    let component = tx.component(&input.component_appid)?.ok_or_else(|| {
        not_found(
            ErrCode::DataFormatError,
            "component_appid names no component",
        )
    })?;
    let oa = tx
        .official_account(&input.appid)?
        .ok_or_else(|| not_found(ErrCode::DataFormatError, "appid names no Official Account"))?;
    // 403, not 400: which hosts and which accounts are allowed is the world's state, which no
    // schema can describe.
    rules::check_redirect_uri(&input.redirect_uri, &component.auth_domain).map_err(|code| {
        Error::sandbox(
            403,
            code,
            "redirect_uri's host must be the component's auth_domain",
        )
    })?;
    let granted = tx
        .authorization(&component.appid, &oa.appid)?
        .is_some_and(|a| a.grants(FAST_REGISTER_SET));
    if !granted {
        return Err(Error::sandbox(
            403,
            ErrCode::ApiUnauthorizedToComponent,
            "the OA has not granted permission set 27 to this component",
        ));
    }
    Ok((component, oa))
}

/// Confirms a fast registration after [`check_fast_registration`]: issues the ticket and the
/// redirect URL.
///
/// # Errors
/// As above; every refusal leaves nothing behind.
pub fn confirm_fast_registration(
    tx: &mut dyn Tx,
    input: ConfirmationIn,
    now: UnixTime,
    lifetimes: &Lifetimes,
) -> Result<ConfirmationOut> {
    let (component, oa) = check_fast_registration(tx, &input)?;
    let ticket = FastRegisterTicket {
        ticket: secrets::fastregister_ticket(),
        component_appid: component.appid,
        oa_appid: oa.appid,
        copy_wx_verify: input.copy_wx_verify,
        issued_at: now,
        expires_at: now + lifetimes.fastregister_ticket,
    };
    tx.insert_fastregister_ticket(&ticket)?;
    Ok(ConfirmationOut {
        redirect_url: rules::append_query(&input.redirect_uri, &[("ticket", &ticket.ticket)]),
        ticket: ticket.ticket,
        expires_at: ticket.expires_at,
    })
}
