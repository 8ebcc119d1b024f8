//! A message in a submission's thread, however it was written (the page, the API, an email
//! reply): who may write, what is kept, and who is told. [`prepare_message`] returns the
//! message with its audit event and emails; the caller writes them in one transaction
//! (`Store::insert_message`, or with the inbound email that carried it).

use vitrine_domain::go_live::Submission;
use vitrine_domain::submission::Party;
use vitrine_domain::thread::{Message, MessageId, Side};
use vitrine_domain::{Actor, AuditEvent, DomainError, Timestamp, User};
use vitrine_store::NewEmail;

use crate::notify::{self, About};
use crate::{JobResult, Services, scheduler};

/// Longest message body, in characters.
pub const MAX_MESSAGE_CHARS: usize = 10_000;

/// What a new message writes: itself, its audit event, and the other side's emails.
pub struct PreparedMessage {
    pub message: Message,
    pub events: Vec<AuditEvent>,
    pub emails: Vec<NewEmail>,
}

/// The side `party` writes for, or why it may not write.
pub fn side_of(party: Party) -> Result<Side, DomainError> {
    match party {
        Party::Provider => Ok(Side::Provider),
        Party::AssignedValidator | Party::Admin => Ok(Side::Validator),
        _ => Err(DomainError::Forbidden(vitrine_domain::tr!(
            "thread.forbidden",
            "only the provider, the assigned validator and admins write in the thread",
            "seuls le fournisseur, le validateur assigné et les administrateurs écrivent dans le fil"
        ))),
    }
}

/// A message from `author` (acting as `actor`) in the thread of `submission`: refused unless
/// the author's part may write; the body is trimmed and must hold 1 to 10,000 characters.
pub async fn prepare_message(
    services: &Services,
    author: &User,
    actor: &Actor,
    submission: &Submission,
    body: &str,
    now: Timestamp,
) -> JobResult<PreparedMessage> {
    let party = submission.require_visible_to(actor)?;
    let side = side_of(party)?;
    let body = vitrine_domain::validate::text("body", body, 1, MAX_MESSAGE_CHARS)?;
    let message = Message {
        id: MessageId::generate(),
        submission_id: submission.id,
        author: author.id,
        side,
        body,
        created_at: now,
    };
    let ctx = scheduler::context(services, submission).await?;
    let other_side = match side {
        Side::Provider => match notify::user(services, submission.validator).await? {
            Some(validator) => vec![validator],
            None => notify::staff(services, |u| u.staff.admin).await?,
        },
        Side::Validator => ctx.members.clone(),
    };
    let about = About {
        submission,
        offering: &ctx.offering,
        provider: &ctx.provider,
    };
    let rendered = notify::thread_message(
        &services.mail,
        &about,
        author,
        side == Side::Provider,
        &message.body,
        now,
        &other_side,
    )?;
    let emails = scheduler::outbox(rendered, Some(submission.id), now)?;
    let event = AuditEvent::new(Some(author.id), "submission.message", now)
        .subject_submission(
            submission.id,
            submission.offering_id,
            submission.provider_account_id,
        )
        .after(&serde_json::json!({"message_id": message.id, "side": side}));
    Ok(PreparedMessage {
        message,
        events: vec![event],
        emails,
    })
}
