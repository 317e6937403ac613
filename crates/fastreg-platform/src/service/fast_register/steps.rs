//! fastregister's steps, each one synchronous function over a transaction (or the view):
//! the checks of the spec's §5 on the view ([`precheck_in_view`]) and on a read snapshot
//! ([`precheck`]), the writer's checks and claim or whole registration ([`begin`]), the
//! completion of a claimed registration ([`complete`]) or its release ([`abandon`]), and the
//! success answer ([`answer`]). [`super::register`] runs them in order.

use fastreg_wire::account::FastRegisterResponse;

use super::context::{load_context, Source};
use crate::clock::shanghai_month;
use crate::domain::*;
use crate::error::{Error, Result};
use crate::rules::{self, Decision, Policy, TicketBody};
use crate::secrets;
use crate::service::{appids_exhausted, new_code, APPID_DRAWS};
use crate::settings::Lifetimes;
use crate::store::view::View;
use crate::store::{insert_success_but_registration, SuccessWrites, Tx};

/// Where one fastregister call got to.
#[derive(Debug, Clone)]
pub enum FastRegisterStep {
    /// Committed success: answer it.
    Done(Registration),
    /// An earlier success of this ticket: answer it again.
    Replay(Registration),
    /// The ticket is claimed and the registration is in progress (a processing delay is
    /// configured): complete it with [`complete`] after the delay.
    Claimed(i64),
}

/// fastregister, first half: every check of the spec's §5 in order, then either the whole
/// registration (`complete_now`) or only the claim of the ticket (the registration is then
/// "in progress" until [`complete`]).
///
/// # Errors
/// The errcode of the first failing rule.
pub fn begin(
    tx: &mut dyn Tx,
    token: Option<&str>,
    body: TicketBody,
    now: UnixTime,
    policy: &Policy,
    lifetimes: &Lifetimes,
    complete_now: bool,
) -> Result<FastRegisterStep> {
    // The writer's checks are the authority. The view can serve them too: a value it holds
    // unchanged since the last commit is the committed one, and whatever this batch changed
    // is pending there, so read from the database.
    let ctx = match tx.writer_view() {
        Some(view) => {
            let ctx = load_context(
                &mut Source::view_then_tx(view.lookup_in(tx.world()), tx),
                token,
                body,
                now,
            )?;
            // Whatever this batch has not changed is the committed state: the calls after
            // this one (a refusal repeated, say) are then decided in the view.
            view.remember_settled_context(tx.world(), &ctx, &shanghai_month(now));
            ctx
        }
        None => load_context(&mut Source::tx(tx), token, body, now)?,
    };
    match rules::check_fast_register(&ctx, now, policy) {
        Decision::Refuse(code) => Err(Error::wx(code)),
        Decision::Replay(reg) => Ok(FastRegisterStep::Replay(reg)),
        Decision::Proceed(ok) => {
            let claim = Registration {
                id: 0,
                ticket: ok.ticket,
                oa_appid: ok.oa_appid,
                entity_id: ok.entity_id,
                component_appid: ok.component_appid,
                status: RegistrationStatus::InProgress,
                mp_appid: None,
                authorization_code: None,
                is_wx_verify_succ: ok.is_wx_verify_succ,
                is_link_succ: false,
                created_at: now,
                completed_at: None,
                month: None,
            };
            if complete_now {
                // Claim and completion in one transaction: the registration is written once,
                // already succeeded, with the OA and component the checks just read.
                let (Some(oa), Some(component)) = (&ctx.official_account, &ctx.component) else {
                    return Err(Error::Internal(anyhow::anyhow!(
                        "an approved registration lacks its OA or component"
                    )));
                };
                // One write for all of it (`Tx::insert_success`), drawn again on the rare
                // appid collision.
                for _ in 0..APPID_DRAWS {
                    let s = success(tx, claim.clone(), oa, component, now, policy, lifetimes)?;
                    if let Some(id) = tx.insert_success(&s)? {
                        let mut reg = s.registration;
                        reg.id = id;
                        return Ok(FastRegisterStep::Done(reg));
                    }
                }
                Err(appids_exhausted())
            } else {
                Ok(FastRegisterStep::Claimed(tx.insert_registration(&claim)?))
            }
        }
    }
}

/// fastregister's checks on a read snapshot, changing nothing. A refusal (or a replay) read from
/// a consistent snapshot is a correct answer at that instant, so the handler answers it
/// without queuing for the writer; only a go-ahead goes on to [`begin`], which
/// checks again in the write transaction before committing anything.
///
/// On a backend with an in-process view, what was read is remembered there, for
/// [`precheck_in_view`].
///
/// # Errors
/// Storage faults.
pub fn precheck(
    tx: &mut dyn Tx,
    token: Option<&str>,
    body: TicketBody,
    now: UnixTime,
    policy: &Policy,
) -> Result<Decision> {
    let Some((view, epoch)) = tx.view() else {
        let ctx = load_context(&mut Source::tx(tx), token, body, now)?;
        return Ok(rules::check_fast_register(&ctx, now, policy));
    };
    // What the view holds unchanged since this snapshot began is what the snapshot holds:
    // only the rest is read from the database.
    let ctx = load_context(
        &mut Source::view_then_tx(view.lookup_in_as_of(tx.world(), epoch), tx),
        token,
        body,
        now,
    )?;
    view.remember_in(tx.world(), &ctx, &shanghai_month(now), epoch);
    Ok(rules::check_fast_register(&ctx, now, policy))
}

/// fastregister's checks on the in-process view alone, on the caller's thread: the same
/// decision as [`precheck`] on a snapshot of this instant, or `None` when the
/// view lacks (or holds an outdated copy of) anything the checks read.
pub fn precheck_in_view(
    view: &View,
    world: WorldKey,
    token: Option<&str>,
    body: TicketBody,
    now: UnixTime,
    policy: &Policy,
) -> Option<Decision> {
    let ctx = load_context(&mut Source::view(view.lookup_in(world)), token, body, now).ok()?;
    Some(rules::check_fast_register(&ctx, now, policy))
}

/// fastregister, second half: creates the Mini Program of an in-progress registration, links
/// it to the OA (unless the OA is at its link cap), authorises it to the component with the
/// component's MP permission sets, issues the authorization_code and records the success.
///
/// # Errors
/// Storage faults only: the checks were made when the ticket was claimed, and the claim holds
/// the OA's and (through the in-progress count) the entity's place.
pub fn complete(
    tx: &mut dyn Tx,
    id: i64,
    now: UnixTime,
    policy: &Policy,
    lifetimes: &Lifetimes,
) -> Result<Registration> {
    let reg = tx
        .registration(id)?
        .filter(|r| r.status == RegistrationStatus::InProgress)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("registration {id} is not in progress")))?;
    let oa = tx
        .official_account(&reg.oa_appid)?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("OA {} vanished", reg.oa_appid)))?;
    let component = tx
        .component(&reg.component_appid)?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("component vanished")))?;
    let done = succeed(tx, reg, &oa, &component, now, policy, lifetimes)?;
    tx.update_registration(&done)?;
    Ok(done)
}

/// What completing a registration writes, except the registration itself: the Mini Program,
/// its link (unless the OA is at its link cap), its authorisation to the component with the
/// component's MP permission sets, and its authorization_code. Returns the registration as
/// succeeded, for the caller to update.
fn succeed(
    tx: &mut dyn Tx,
    reg: Registration,
    oa: &OfficialAccount,
    component: &Component,
    now: UnixTime,
    policy: &Policy,
    lifetimes: &Lifetimes,
) -> Result<Registration> {
    for _ in 0..APPID_DRAWS {
        let s = success(tx, reg.clone(), oa, component, now, policy, lifetimes)?;
        if insert_success_but_registration(tx, &s)? {
            return Ok(s.registration);
        }
    }
    Err(appids_exhausted())
}

/// What a success of `reg` writes ([`SuccessWrites`]), under a freshly drawn appid (not
/// reserved yet): the Mini Program, linked to the OA unless it is at its link cap, its
/// authorisation to the component with the component's MP permission sets, its
/// authorization_code, and the registration as succeeded.
fn success(
    tx: &mut dyn Tx,
    mut reg: Registration,
    oa: &OfficialAccount,
    component: &Component,
    now: UnixTime,
    policy: &Policy,
    lifetimes: &Lifetimes,
) -> Result<SuccessWrites> {
    let linked = tx.count_linked_mini_programs(&oa.appid)?;
    let is_link_succ = rules::link_succeeds(oa, linked, policy);
    let appid = secrets::appid();
    let mini_program = MiniProgram {
        appid: appid.clone(),
        user_name: secrets::user_name(),
        nickname: format!("小程序{}", &appid[appid.len() - 4..]),
        entity_id: oa.entity_id,
        registered_by_oa: oa.appid.clone(),
        linked_oa: is_link_succ.then(|| oa.appid.clone()),
        verified: reg.is_wx_verify_succ,
        created_at: now,
    };
    let authorization = Authorization {
        component_appid: component.appid.clone(),
        authorizer_appid: appid.clone(),
        authorizer_kind: AuthorizerKind::MiniProgram,
        permission_sets: component.mp_permission_sets.clone(),
        refresh_token: secrets::refresh_token(),
        auth_time: now,
        revoked: false,
    };
    let (code, code_record) = new_code(
        CodeKind::Authorization,
        &component.appid,
        &appid,
        now,
        lifetimes.auth_code,
    );
    reg.status = RegistrationStatus::Succeeded;
    reg.mp_appid = Some(appid);
    reg.authorization_code = Some(code);
    reg.is_link_succ = is_link_succ;
    reg.completed_at = Some(now);
    reg.month = Some(shanghai_month(now));
    Ok(SuccessWrites {
        mini_program,
        authorization,
        code: code_record,
        registration: reg,
    })
}

/// Marks an in-progress registration abandoned (its completion failed): the OA may register
/// again and the ticket is usable again. A registration no longer in progress is left alone.
///
/// # Errors
/// Storage faults.
pub fn abandon(tx: &mut dyn Tx, id: i64) -> Result<()> {
    if let Some(mut reg) = tx
        .registration(id)?
        .filter(|r| r.status == RegistrationStatus::InProgress)
    {
        reg.status = RegistrationStatus::Abandoned;
        tx.update_registration(&reg)?;
    }
    Ok(())
}

/// The fastregister success answer of a registration.
pub fn answer(reg: &Registration) -> FastRegisterResponse {
    FastRegisterResponse {
        appid: reg.mp_appid.clone().unwrap_or_default(),
        authorization_code: reg.authorization_code.clone().unwrap_or_default(),
        is_wx_verify_succ: reg.is_wx_verify_succ,
        is_link_succ: reg.is_link_succ,
    }
}
