//! Users: people who sign in. Staff roles (admin, validator) belong to users; account
//! roles belong to memberships (see [`crate::account`]). Both role types are defined with
//! the permission checks, in [`crate::permissions`], and [`StaffRoles`] is re-exported here.

use crate::audit::AuditEvent;
use crate::error::{DomainError, Problems};
use crate::ids::UserId;
use crate::permissions::Actor;
pub use crate::permissions::StaffRoles;
pub use crate::text::Language;
use crate::{Timestamp, tr, validate};
use serde::{Deserialize, Serialize};

/// An email address, validated and lowercased.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, pattern = "vitrine:email")]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, value: &str) -> Result<Self, DomainError> {
        validate::email(field, value).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Every name of the time zone database [`time_zone`] checks against, sorted (for the
/// OpenAPI document's enumeration).
pub fn time_zone_names() -> Vec<String> {
    let mut names: Vec<String> = jiff::tz::db()
        .available()
        .map(|name| name.as_str().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Checks an IANA time zone name against the time zone database.
pub fn time_zone(field: &str, name: &str) -> Result<String, DomainError> {
    let name = name.trim();
    match jiff::tz::db().get(name) {
        Ok(_) => Ok(name.to_owned()),
        Err(_) => Err(DomainError::invalid(
            field,
            tr!(
                "field.time_zone",
                "'{name}' is not an IANA time zone such as Europe/Paris or UTC",
                "« {name} » n’est pas un fuseau horaire IANA comme Europe/Paris ou UTC"
            ),
        )),
    }
}

/// A person who signs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub display_name: String,
    pub language: Language,
    /// IANA time zone the user reads dates in.
    pub time_zone: String,
    pub staff: StaffRoles,
    /// When the address was shown to be the user's: they followed an emailed link (email
    /// verification or password reset), or an admin vouched for it by creating the user
    /// (then the creation time). Null only for a user who signed up and has not followed
    /// the verification link yet: they cannot sign in until they do.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub email_verified_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Increases by one at every change; used to refuse lost updates.
    pub version: i64,
}

/// What an admin (or `admin bootstrap`) gives to create a user.
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub language: Option<Language>,
    pub time_zone: Option<String>,
    pub staff: StaffRoles,
}

/// A change to a user's profile; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub language: Option<Language>,
    pub time_zone: Option<String>,
}

pub use crate::validate::MIN_PASSWORD_CHARS;

/// Checks a new password; the caller hashes it.
pub fn check_password(field: &str, password: &str) -> Result<(), DomainError> {
    crate::validate::password(field, password)
}

/// Validates `input` into a new user, listing every bad field. The user's address is not
/// verified yet; the caller decides whether it is vouched for.
pub(crate) fn validated_user(input: NewUser, now: Timestamp) -> Result<User, DomainError> {
    let mut problems = Problems::new();
    let email = problems.check(Email::parse("email", &input.email));
    let display_name = problems.check(validate::text("display_name", &input.display_name, 1, 100));
    let time_zone = problems.check(time_zone(
        "time_zone",
        input.time_zone.as_deref().unwrap_or("UTC"),
    ));
    problems.into_result()?;
    let (Some(email), Some(display_name), Some(time_zone)) = (email, display_name, time_zone)
    else {
        unreachable!("Problems is empty only when every check passed")
    };
    Ok(User {
        id: UserId::generate(),
        email,
        display_name,
        language: input.language.unwrap_or_default(),
        time_zone,
        staff: input.staff,
        email_verified_at: None,
        created_at: now,
        version: 1,
    })
}

/// Validates `input` into a new user. `actor` is `None` only for `admin bootstrap`, which
/// the operator runs on the server itself. The address counts as verified: whoever creates
/// a user vouches for it (only self-service sign-up has to prove it, see [`crate::auth`]).
pub fn create_user(
    actor: Option<&Actor>,
    input: NewUser,
    now: Timestamp,
) -> Result<(User, AuditEvent), DomainError> {
    if let Some(actor) = actor {
        actor.require_admin(tr!(
            "user.create_admin_only",
            "only an admin can create users",
            "seul un administrateur peut créer des utilisateurs"
        ))?;
    }
    let mut user = validated_user(input, now)?;
    user.email_verified_at = Some(now);
    let event = AuditEvent::new(actor.map(|a| a.user_id), "user.created", now)
        .subject_user(user.id)
        .after(&user);
    Ok((user, event))
}

/// Applies a profile change. A user edits their own profile; an admin edits anyone's.
pub fn update_user(
    actor: &Actor,
    user: &User,
    patch: UserPatch,
    now: Timestamp,
) -> Result<(User, AuditEvent), DomainError> {
    if actor.user_id != user.id {
        actor.require_admin(tr!(
            "user.own_profile_only",
            "you can only change your own profile",
            "vous ne pouvez modifier que votre propre profil"
        ))?;
    }
    let mut next = user.clone();
    let mut problems = Problems::new();
    if let Some(name) = patch.display_name
        && let Some(v) = problems.check(validate::text("display_name", &name, 1, 100))
    {
        next.display_name = v;
    }
    if let Some(language) = patch.language {
        next.language = language;
    }
    if let Some(tz) = patch.time_zone
        && let Some(v) = problems.check(time_zone("time_zone", &tz))
    {
        next.time_zone = v;
    }
    problems.into_result()?;
    next.version += 1;
    let event = AuditEvent::new(Some(actor.user_id), "user.updated", now)
        .subject_user(user.id)
        .before(user)
        .after(&next);
    Ok((next, event))
}

/// Grants or removes staff roles. Only admins may, and an admin cannot remove their own
/// admin role (so the marketplace never locks itself out by accident).
pub fn set_staff_roles(
    actor: &Actor,
    user: &User,
    staff: StaffRoles,
    now: Timestamp,
) -> Result<(User, AuditEvent), DomainError> {
    actor.require_admin(tr!(
        "user.staff_roles_admin_only",
        "only an admin can change staff roles",
        "seul un administrateur peut changer les rôles du personnel"
    ))?;
    if actor.user_id == user.id && user.staff.admin && !staff.admin {
        return Err(DomainError::conflict(tr!(
            "user.own_admin_role",
            "you cannot remove your own admin role; ask another admin",
            "vous ne pouvez pas retirer votre propre rôle d’administrateur ; demandez à un autre administrateur"
        )));
    }
    let mut next = user.clone();
    next.staff = staff;
    next.version += 1;
    let event = AuditEvent::new(Some(actor.user_id), "user.staff_roles_changed", now)
        .subject_user(user.id)
        .before(&user.staff)
        .after(&next.staff);
    Ok((next, event))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> Actor {
        Actor::new(
            UserId::generate(),
            StaffRoles {
                admin: true,
                validator: false,
            },
            vec![],
        )
    }

    fn input() -> NewUser {
        NewUser {
            email: "Ana@Example.com".into(),
            display_name: "Ana".into(),
            language: Some(Language::Fr),
            time_zone: Some("Europe/Paris".into()),
            staff: StaffRoles::default(),
        }
    }

    #[test]
    fn admin_creates_user_with_normalised_email() {
        let now = Timestamp::UNIX_EPOCH;
        let (user, event) = create_user(Some(&admin()), input(), now).expect("valid");
        assert_eq!(user.email.as_str(), "ana@example.com");
        assert_eq!(user.language, Language::Fr);
        assert_eq!(
            user.email_verified_at,
            Some(now),
            "an admin vouches for the address"
        );
        assert_eq!(event.action, "user.created");
        assert!(event.after.is_some());
    }

    #[test]
    fn non_admin_cannot_create_users() {
        let member = Actor::new(UserId::generate(), StaffRoles::default(), vec![]);
        let err = create_user(Some(&member), input(), Timestamp::UNIX_EPOCH).unwrap_err();
        assert!(matches!(err, DomainError::Forbidden(_)));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let bad = NewUser {
            email: "nope".into(),
            display_name: " ".into(),
            language: None,
            time_zone: Some("Mars/Olympus".into()),
            staff: StaffRoles::default(),
        };
        let Err(DomainError::Invalid(errors)) = create_user(None, bad, Timestamp::UNIX_EPOCH)
        else {
            panic!("expected invalid")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "display_name", "time_zone"]);
    }

    #[test]
    fn users_edit_themselves_but_not_others() {
        let (user, _) = create_user(None, input(), Timestamp::UNIX_EPOCH).expect("valid");
        let me = Actor::new(user.id, StaffRoles::default(), vec![]);
        let other = Actor::new(UserId::generate(), StaffRoles::default(), vec![]);
        let patch = UserPatch {
            display_name: Some("Ana B".into()),
            ..Default::default()
        };
        let (next, _) = update_user(&me, &user, patch.clone(), Timestamp::UNIX_EPOCH).expect("own");
        assert_eq!(next.display_name, "Ana B");
        assert_eq!(next.version, user.version + 1);
        assert!(matches!(
            update_user(&other, &user, patch, Timestamp::UNIX_EPOCH),
            Err(DomainError::Forbidden(_))
        ));
    }

    #[test]
    fn admin_cannot_demote_self() {
        let a = admin();
        let me = User {
            id: a.user_id,
            email: Email::parse("e", "a@b.co").expect("valid"),
            display_name: "A".into(),
            language: Language::En,
            time_zone: "UTC".into(),
            staff: a.staff,
            email_verified_at: Some(Timestamp::UNIX_EPOCH),
            created_at: Timestamp::UNIX_EPOCH,
            version: 1,
        };
        let err = set_staff_roles(&a, &me, StaffRoles::default(), Timestamp::UNIX_EPOCH);
        assert!(matches!(err, Err(DomainError::Conflict(_))));
    }

    #[test]
    fn passwords_need_length() {
        assert!(check_password("p", "short").is_err());
        assert!(check_password("p", "long enough pass").is_ok());
    }
}
