//! What the operator does from the command line, without a request: the first admin, API
//! tokens, a password link.

use vitrine_jobs::Clock;
use vitrine_store::Store;

/// Why `admin bootstrap` failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("an admin already exists; ask them to create your user")]
    AdminExists,
    #[error("the admin's details are invalid: {0}")]
    Invalid(vitrine_domain::DomainError),
    #[error("storage failed while creating the first admin: {0}")]
    Store(#[from] vitrine_store::StoreError),
    #[error("no user has the email address {0}")]
    UnknownUser(String),
}

/// Creates the first admin and an API token for it; returns the token secret. Errors with
/// [`BootstrapError::AdminExists`] if any admin exists.
pub async fn bootstrap_admin(
    store: &dyn Store,
    clock: &dyn Clock,
    email: &str,
    display_name: &str,
) -> Result<String, BootstrapError> {
    if store.count_admins().await? > 0 {
        return Err(BootstrapError::AdminExists);
    }
    let now = clock.now();
    let input = vitrine_domain::user::NewUser {
        email: email.to_owned(),
        display_name: display_name.to_owned(),
        staff: vitrine_domain::StaffRoles {
            admin: true,
            validator: false,
        },
        ..Default::default()
    };
    let (user, created) =
        vitrine_domain::user::create_user(None, input, now).map_err(BootstrapError::Invalid)?;
    store.insert_user(&user, None, &[created]).await?;
    let created = crate::me::issue_token(store, None, user.id, "bootstrap".to_owned(), now).await?;
    Ok(created.secret)
}

/// Issues an API token for `user` on the operator's behalf (command line, benchmarks);
/// returns the secret, shown once. The audit log records no acting user.
pub async fn issue_api_token(
    store: &dyn Store,
    clock: &dyn Clock,
    user: vitrine_domain::UserId,
    name: &str,
) -> Result<String, vitrine_store::StoreError> {
    let created = crate::me::issue_token(store, None, user, name.to_owned(), clock.now()).await?;
    Ok(created.secret)
}

/// A one-time link for the user with `email` to choose a password: the same link (and
/// lifetime, one hour) as an emailed password reset, printed by the command line so that the
/// first admin, created without a password, can sign in to the web pages. Audited like a
/// reset request.
pub async fn password_link(
    store: &dyn Store,
    clock: &dyn Clock,
    email: &str,
    public_url: &str,
) -> Result<String, BootstrapError> {
    let address =
        vitrine_domain::user::Email::parse("email", email).map_err(BootstrapError::Invalid)?;
    let Some((user, _)) = store.user_by_email(&address).await? else {
        return Err(BootstrapError::UnknownUser(email.to_owned()));
    };
    let (token, event) = vitrine_domain::auth::issue_token(
        vitrine_domain::auth::TokenPurpose::ResetPassword,
        &user,
        clock.now(),
    );
    let (secret, hash) = vitrine_http::secrets::new_secret();
    store
        .insert_one_time_token(&vitrine_store::IssuedToken { hash, token }, &[event], &[])
        .await?;
    Ok(format!(
        "{}/reset-password?token={secret}",
        public_url.trim_end_matches('/')
    ))
}
