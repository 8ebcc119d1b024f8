//! The audit log: one append-only record per change, written in the same transaction as
//! the change. Admins read all of it; a provider reads what concerns its own account and
//! offerings (see `vitrine_domain::permissions::Actor::audit_scope`).

use crate::Timestamp;
use crate::ids::{AccountId, OfferingId, UserId};
use serde::{Deserialize, Serialize};

/// What a change touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    User,
    Account,
    Offering,
    ApiToken,
    Submission,
    WebhookEndpoint,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::User => "user",
            SubjectKind::Account => "account",
            SubjectKind::Offering => "offering",
            SubjectKind::ApiToken => "api_token",
            SubjectKind::Submission => "submission",
            SubjectKind::WebhookEndpoint => "webhook_endpoint",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => SubjectKind::User,
            "account" => SubjectKind::Account,
            "offering" => SubjectKind::Offering,
            "api_token" => SubjectKind::ApiToken,
            "submission" => SubjectKind::Submission,
            "webhook_endpoint" => SubjectKind::WebhookEndpoint,
            _ => return None,
        })
    }
}

/// One change: who, what, when, before and after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// The user who made the change; `None` for the operator's command line.
    pub actor: Option<UserId>,
    /// Dotted name of the change, such as `offering.visibility_changed`.
    pub action: String,
    pub subject_kind: SubjectKind,
    /// Identifier of the subject (a UUID).
    pub subject_id: String,
    /// The account the change concerns, which decides who may read the record.
    pub account_id: Option<AccountId>,
    pub offering_id: Option<OfferingId>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

impl AuditEvent {
    pub fn new(actor: Option<UserId>, action: &str, at: Timestamp) -> Self {
        Self {
            actor,
            action: action.to_owned(),
            subject_kind: SubjectKind::User,
            subject_id: String::new(),
            account_id: None,
            offering_id: None,
            before: None,
            after: None,
            at,
        }
    }
    pub fn subject_user(mut self, id: UserId) -> Self {
        self.subject_kind = SubjectKind::User;
        self.subject_id = id.to_string();
        self
    }
    pub fn subject_account(mut self, id: AccountId) -> Self {
        self.subject_kind = SubjectKind::Account;
        self.subject_id = id.to_string();
        self.account_id = Some(id);
        self
    }
    pub fn subject_offering(mut self, id: OfferingId, account: AccountId) -> Self {
        self.subject_kind = SubjectKind::Offering;
        self.subject_id = id.to_string();
        self.account_id = Some(account);
        self.offering_id = Some(id);
        self
    }
    pub fn subject_token(mut self, id: crate::ids::TokenId) -> Self {
        self.subject_kind = SubjectKind::ApiToken;
        self.subject_id = id.to_string();
        self
    }
    pub fn subject_submission(
        mut self,
        id: crate::ids::SubmissionId,
        offering: OfferingId,
        account: AccountId,
    ) -> Self {
        self.subject_kind = SubjectKind::Submission;
        self.subject_id = id.to_string();
        self.account_id = Some(account);
        self.offering_id = Some(offering);
        self
    }
    pub fn before<T: Serialize>(mut self, value: &T) -> Self {
        self.before = serde_json::to_value(value).ok();
        self
    }
    pub fn after<T: Serialize>(mut self, value: &T) -> Self {
        self.after = serde_json::to_value(value).ok();
        self
    }
}

/// A stored audit event with its position in the log.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Position in the log; strictly increasing.
    pub seq: i64,
    #[serde(flatten)]
    pub event: AuditEvent,
    #[serde(flatten)]
    pub names: AuditNames,
}

/// Who and what a record names, as people read them: read with the record (the ids stay
/// the reference; a name is today's, not the one at the time of the change).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditNames {
    /// The actor's display name (absent for the command line or a deleted user).
    pub actor_name: Option<String>,
    pub actor_email: Option<String>,
    pub account_name: Option<String>,
    /// The offering's name (its address in the catalog).
    pub offering_name: Option<String>,
}
