//! Writes on behalf of someone: the one authorisation rule for the write API and the web forms
//! (admins change any of this node's events, users only those they entered, importing is for
//! admins), then the node's write, then who entered what (the owner of a new event) and an
//! audit line.

use discal_store::AuditEntry;

use crate::web::auth::Caller;
use crate::{AppError, Gateway, WriteOp, Written};

/// Whether `caller` may change this node's event `uid`.
pub fn may_change(gw: &Gateway, caller: &Caller, uid: &str) -> Result<(), AppError> {
    if caller.is_admin() {
        return Ok(());
    }
    match gw.store.owner(uid).map_err(AppError::internal)? {
        Some(o) if o == caller.name => Ok(()),
        _ => Err(AppError::Forbidden(format!(
            "event {uid} was entered by someone else: only they or an admin can change it"
        ))),
    }
}

/// Performs `op` for `caller`.
pub async fn write_as(
    gw: &Gateway,
    caller: &Caller,
    op: WriteOp,
) -> Result<Vec<Written>, AppError> {
    let (action, target) = match &op {
        WriteOp::Create(_) => ("create", None),
        WriteOp::Import(_) => ("import", None),
        WriteOp::Update { uid, .. } => ("update", Some(uid.clone())),
        WriteOp::Replace { uid, .. } => ("replace", Some(uid.clone())),
        WriteOp::Cancel { uid } => ("cancel", Some(uid.clone())),
        WriteOp::If { op, .. } => match **op {
            WriteOp::Cancel { .. } => ("cancel", op.uid().map(str::to_owned)),
            _ => ("replace", op.uid().map(str::to_owned)),
        },
    };
    if let Some(uid) = &target {
        may_change(gw, caller, uid)?;
    }
    if action == "import" && !caller.is_admin() {
        return Err(AppError::Forbidden(
            "importing iCalendar documents is for admins; enter events one by one".into(),
        ));
    }
    let written = gw.node.write(op).await?;
    let now = (gw.clock)();
    let changed: Vec<&Written> = written
        .iter()
        .filter(|w| w.changed && w.refused.is_none())
        .collect();
    let audit = |action: &str, subject: String| {
        gw.store.audit(&AuditEntry {
            at_ms: now,
            actor: caller.name.clone(),
            action: action.into(),
            subject,
        })
    };
    if action == "import" {
        if !changed.is_empty() {
            audit("import", format!("{} events", changed.len())).map_err(AppError::internal)?;
        }
        return Ok(written);
    }
    for w in changed {
        // The node's admin token is nobody's: its events are the admins'.
        if action == "create" && caller.name != crate::web::auth::ADMIN_TOKEN_CALLER {
            gw.store
                .set_owner(&w.uid, &caller.name)
                .map_err(AppError::internal)?;
        }
        audit(action, w.uid.clone()).map_err(AppError::internal)?;
    }
    Ok(written)
}
