//! The long-running poller: one connection kept open, IDLE where the server offers it,
//! reconnecting with backoff after errors, until shutdown.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{MailboxDatum, Response, Status};

use crate::connection::Connection;
use crate::error::{MailboxError, Step};
use crate::handler::{Handler, PollReport};
use crate::poll::poll_selected;
use crate::settings::ImapSettings;

/// The first wait after a failure; doubled after each further one.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The caller's shutdown future, which can also be asked "already?" without waiting.
struct Shutdown<F: Future<Output = ()>> {
    future: Pin<Box<F>>,
    happened: bool,
}

impl<F: Future<Output = ()>> Shutdown<F> {
    fn requested(&mut self) -> bool {
        if !self.happened {
            let mut context = Context::from_waker(Waker::noop());
            self.happened = self.future.as_mut().poll(&mut context).is_ready();
        }
        self.happened
    }

    async fn wait(&mut self) {
        if !self.happened {
            self.future.as_mut().await;
            self.happened = true;
        }
    }
}

/// How an IDLE ended.
#[derive(Debug, PartialEq, Eq)]
enum IdleEnd {
    NewMail,
    Timer,
    Shutdown,
}

/// Polls the mailbox until `shutdown` completes: a first poll at once, then IDLE where the
/// server offers it (woken by new mail, ended every [`ImapSettings::idle_refresh`] to poll
/// anyway), else a poll every [`ImapSettings::poll_every`]. After a handler answered
/// [`crate::Handled::Retry`] the next poll comes within `poll_every` either way.
///
/// A failure (network, server, even a refused login: the operator may fix it without a
/// restart) is logged and followed by a new connection after a backoff of 1 s doubling up to
/// 5 min, reset by a successful poll. Only settings that can never work return an error.
/// Shutdown is noticed while waiting and between batches; a batch being handled is finished
/// (its messages moved) first.
pub async fn run<H: Handler>(
    settings: &ImapSettings,
    handler: &mut H,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), MailboxError> {
    let problems = settings.problems();
    if !problems.is_empty() {
        return Err(MailboxError::Settings { problems });
    }
    let mut shutdown = Shutdown {
        future: Box::pin(shutdown),
        happened: false,
    };
    let mut backoff = FIRST_BACKOFF;
    tracing::info!(server = %settings.server(), user = %settings.username, mailbox = %settings.mailbox, "inbound mailbox poller starting");
    loop {
        let error = match session(settings, handler, &mut shutdown, &mut backoff).await {
            Ok(()) => break,
            Err(error) => error,
        };
        if matches!(
            error,
            MailboxError::Settings { .. } | MailboxError::PlainTextRefused { .. }
        ) {
            return Err(error);
        }
        if error.retry_helps() {
            tracing::warn!(error = %error, retry_in = ?backoff, "inbound mailbox poll failed");
        } else {
            tracing::error!(error = %error, retry_in = ?backoff, "inbound mailbox poll failed; it needs the settings or the server fixed");
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.wait() => break,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    tracing::info!(server = %settings.server(), "inbound mailbox poller stopped");
    Ok(())
}

/// One connection's life: Ok once shutdown was asked for, Err when something failed.
async fn session<H: Handler, F: Future<Output = ()> + Send>(
    settings: &ImapSettings,
    handler: &mut H,
    shutdown: &mut Shutdown<F>,
    backoff: &mut Duration,
) -> Result<(), MailboxError> {
    let mut connection = tokio::select! {
        connection = Connection::open(settings) => connection?,
        () = shutdown.wait() => return Ok(()),
    };
    connection.select(&settings.mailbox).await?;
    loop {
        // Search again until nothing new turns up: what arrives during a poll is handled
        // before waiting.
        let mut retried: HashSet<u32> = HashSet::new();
        let mut round = PollReport::default();
        loop {
            let report = poll_selected(&mut connection, settings, handler, &retried, &mut || {
                shutdown.requested()
            })
            .await?;
            retried.extend(report.retry_uids.iter().copied());
            round.add(&report);
            if report.found == 0 || shutdown.requested() {
                break;
            }
        }
        *backoff = FIRST_BACKOFF;
        if shutdown.requested() {
            connection.logout().await;
            return Ok(());
        }
        let wait = if !retried.is_empty() || !connection.offers.idle {
            settings.poll_every
        } else {
            settings.idle_refresh
        };
        if connection.offers.idle {
            let (back, end) = idle(connection, wait, shutdown).await?;
            connection = back;
            tracing::debug!(?end, "IDLE ended");
            if end == IdleEnd::Shutdown {
                connection.logout().await;
                return Ok(());
            }
        } else {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.wait() => {
                    connection.logout().await;
                    return Ok(());
                }
            }
        }
    }
}

/// Waits in IDLE for new mail, the timer or shutdown, then ends the IDLE (`DONE`).
async fn idle<F: Future<Output = ()> + Send>(
    connection: Connection,
    wait: Duration,
    shutdown: &mut Shutdown<F>,
) -> Result<(Connection, IdleEnd), MailboxError> {
    let Connection {
        session,
        peer,
        offers,
        known_mailboxes,
    } = connection;
    let mut handle = session.idle();
    peer.step(Step::Idle, handle.init()).await?;
    let deadline = tokio::time::Instant::now() + wait;
    let end = loop {
        // async-imap's own timeout restarts with every keepalive; the deadline is ours.
        let (answer, interrupt) = handle.wait_with_timeout(wait + Duration::from_secs(60));
        let answer = tokio::select! {
            answer = answer => answer,
            () = tokio::time::sleep_until(deadline) => break IdleEnd::Timer,
            () = shutdown.wait() => break IdleEnd::Shutdown,
        };
        drop(interrupt);
        match answer {
            Ok(IdleResponse::NewData(data)) => match data.parsed() {
                Response::MailboxData(MailboxDatum::Exists(_) | MailboxDatum::Recent(_)) => {
                    break IdleEnd::NewMail;
                }
                Response::Data {
                    status: Status::Bye,
                    information,
                    ..
                } => {
                    return Err(MailboxError::Protocol {
                        server: peer.server.clone(),
                        step: Step::Idle,
                        detail: format!(
                            "the server said goodbye: {}",
                            information.as_deref().unwrap_or("(no reason given)")
                        ),
                    });
                }
                // Expunges, flag changes: nothing to fetch.
                _ => continue,
            },
            Ok(IdleResponse::Timeout) => break IdleEnd::Timer,
            Ok(IdleResponse::ManualInterrupt) => {
                // We did not interrupt: the stream ended, so the connection did.
                return Err(MailboxError::Protocol {
                    server: peer.server.clone(),
                    step: Step::Idle,
                    detail: "the server closed the connection".to_owned(),
                });
            }
            Err(e) => return Err(peer.protocol(Step::Idle, &e)),
        }
    };
    let session = peer.step(Step::Idle, handle.done()).await?;
    Ok((
        Connection {
            session,
            peer,
            offers,
            known_mailboxes,
        },
        end,
    ))
}
