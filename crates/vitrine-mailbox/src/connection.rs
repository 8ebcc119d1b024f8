//! One logged-in IMAP connection: TCP, TLS (implicit or STARTTLS), LOGIN, capabilities, and
//! the commands the poller uses, each with the step timeout and errors naming the server.

use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::types::{Fetch, UnsolicitedResponse};
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use crate::error::{MailboxError, Step, server_words};
use crate::settings::{ImapSettings, Security};

/// The byte stream under the IMAP session: plain TCP or TLS over TCP.
#[derive(Debug)]
pub(crate) enum ImapStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for ImapStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ImapStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub(crate) type Session = async_imap::Session<ImapStream>;

/// Who we talk to, for errors and timeouts.
#[derive(Clone, Debug)]
pub(crate) struct Peer {
    pub(crate) server: String,
    pub(crate) user: String,
    pub(crate) timeout: Duration,
}

impl Peer {
    /// Runs one step under the timeout, mapping the library's error onto ours.
    pub(crate) async fn step<T>(
        &self,
        step: Step,
        work: impl Future<Output = async_imap::error::Result<T>>,
    ) -> Result<T, MailboxError> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.protocol(step, &e)),
            Err(_) => Err(self.timed_out(step)),
        }
    }

    pub(crate) fn protocol(&self, step: Step, error: &async_imap::error::Error) -> MailboxError {
        MailboxError::Protocol {
            server: self.server.clone(),
            step,
            detail: server_words(error),
        }
    }

    pub(crate) fn timed_out(&self, step: Step) -> MailboxError {
        MailboxError::Timeout {
            server: self.server.clone(),
            step,
            after: self.timeout,
        }
    }

    fn network(&self, step: Step, source: io::Error) -> MailboxError {
        MailboxError::Network {
            server: self.server.clone(),
            step,
            source,
        }
    }
}

/// What the server offers that changes how we work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Offers {
    pub(crate) idle: bool,
    pub(crate) move_: bool,
    pub(crate) uidplus: bool,
}

/// The answers to one `UID FETCH`.
pub(crate) struct Answers<'a> {
    stream: Pin<Box<dyn Stream<Item = async_imap::error::Result<Fetch>> + Send + 'a>>,
    peer: &'a Peer,
}

impl Answers<'_> {
    /// The next message's answer, or `None` once the server said the command is done.
    pub(crate) async fn next(&mut self) -> Result<Option<Fetch>, MailboxError> {
        match tokio::time::timeout(self.peer.timeout, self.stream.next()).await {
            Err(_) => Err(self.peer.timed_out(Step::Fetch)),
            Ok(None) => Ok(None),
            Ok(Some(Err(e))) => Err(self.peer.protocol(Step::Fetch, &e)),
            Ok(Some(Ok(fetch))) => Ok(Some(fetch)),
        }
    }
}

/// A logged-in session and what we know about it.
pub(crate) struct Connection {
    pub(crate) session: Session,
    pub(crate) peer: Peer,
    pub(crate) offers: Offers,
    /// Mailboxes this connection already made sure exist.
    pub(crate) known_mailboxes: HashSet<String>,
}

impl Connection {
    /// Connects, protects the connection as the settings say, and logs in.
    pub(crate) async fn open(settings: &ImapSettings) -> Result<Connection, MailboxError> {
        let problems = settings.problems();
        if !problems.is_empty() {
            return Err(MailboxError::Settings { problems });
        }
        let peer = Peer {
            server: settings.server(),
            user: settings.username.clone(),
            timeout: settings.timeout,
        };
        let addresses = resolve(settings, &peer).await?;
        if settings.security == Security::Plain
            && let Some(remote) = addresses.iter().find(|a| !a.ip().is_loopback())
        {
            return Err(MailboxError::PlainTextRefused {
                server: peer.server.clone(),
                address: remote.ip().to_string(),
            });
        }
        let tcp = match tokio::time::timeout(peer.timeout, TcpStream::connect(&addresses[..])).await
        {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(peer.network(Step::Connect, e)),
            Err(_) => return Err(peer.timed_out(Step::Connect)),
        };
        // Commands are small and answered one at a time: do not wait to fill a segment.
        let _ = tcp.set_nodelay(true);

        let stream = match settings.security {
            Security::Tls => ImapStream::Tls(Box::new(tls(settings, &peer, tcp).await?)),
            Security::StartTls | Security::Plain | Security::PlainRemote => ImapStream::Plain(tcp),
        };
        let mut client = async_imap::Client::new(stream);
        greeting(&mut client, &peer).await?;

        if settings.security == Security::StartTls {
            // No separate CAPABILITY check: a server without STARTTLS answers BAD or NO.
            match tokio::time::timeout(
                peer.timeout,
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await
            {
                Err(_) => return Err(peer.timed_out(Step::StartTls)),
                Ok(Ok(())) => {}
                Ok(Err(
                    e @ (async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_)),
                )) => {
                    return Err(MailboxError::NoStartTls {
                        server: peer.server.clone(),
                        detail: server_words(&e),
                    });
                }
                Ok(Err(e)) => return Err(peer.protocol(Step::StartTls, &e)),
            }
            let tcp = match client.into_inner() {
                ImapStream::Plain(tcp) => tcp,
                ImapStream::Tls(_) => {
                    return Err(MailboxError::Protocol {
                        server: peer.server.clone(),
                        step: Step::StartTls,
                        detail: "STARTTLS on a connection that already is TLS".to_owned(),
                    });
                }
            };
            client = async_imap::Client::new(ImapStream::Tls(Box::new(
                tls(settings, &peer, tcp).await?,
            )));
        }

        let login = tokio::time::timeout(
            peer.timeout,
            client.login_with_capabilities(&settings.username, &settings.password),
        )
        .await;
        let (mut session, capabilities) = match login {
            Err(_) => return Err(peer.timed_out(Step::Login)),
            Ok(Ok(logged_in)) => logged_in,
            Ok(Err((
                e @ (async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_)),
                _,
            ))) => {
                return Err(MailboxError::LoginRefused {
                    server: peer.server.clone(),
                    user: settings.username.clone(),
                    detail: server_words(&e),
                });
            }
            Ok(Err((e, _))) => return Err(peer.protocol(Step::Login, &e)),
        };
        let capabilities = match capabilities {
            Some(capabilities) => capabilities,
            None => peer.step(Step::Capability, session.capabilities()).await?,
        };
        let offers = Offers {
            idle: capabilities.has_str("IDLE"),
            move_: capabilities.has_str("MOVE"),
            uidplus: capabilities.has_str("UIDPLUS"),
        };
        tracing::debug!(server = %peer.server, user = %peer.user, ?offers, "IMAP login");
        Ok(Connection {
            session,
            peer,
            offers,
            known_mailboxes: HashSet::new(),
        })
    }

    /// Selects the mailbox to poll; a missing one is named as such.
    pub(crate) async fn select(&mut self, mailbox: &str) -> Result<(), MailboxError> {
        match tokio::time::timeout(self.peer.timeout, self.session.select(mailbox)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e @ async_imap::error::Error::No(_))) => Err(MailboxError::NoSuchMailbox {
                server: self.peer.server.clone(),
                user: self.peer.user.clone(),
                mailbox: mailbox.to_owned(),
                detail: server_words(&e),
            }),
            Ok(Err(e)) => Err(self.peer.protocol(Step::Select, &e)),
            Err(_) => Err(self.peer.timed_out(Step::Select)),
        }
    }

    /// `UID SEARCH` in the selected mailbox, in ascending order.
    pub(crate) async fn search(&mut self, query: &str) -> Result<Vec<u32>, MailboxError> {
        let found = self
            .peer
            .step(Step::Search, self.session.uid_search(query))
            .await?;
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// `UID FETCH`: the answers, read one at a time (nothing is collected).
    pub(crate) async fn fetch(
        &mut self,
        uids: &str,
        items: &str,
    ) -> Result<Answers<'_>, MailboxError> {
        let peer = &self.peer;
        let stream = peer
            .step(Step::Fetch, self.session.uid_fetch(uids, items))
            .await?;
        Ok(Answers {
            stream: Box::pin(stream),
            peer,
        })
    }

    /// `UID STORE <uids> +FLAGS.SILENT (<flags>)`.
    pub(crate) async fn add_flags(&mut self, uids: &str, flags: &str) -> Result<(), MailboxError> {
        let peer = &self.peer;
        peer.step(Step::Store, async {
            let mut answers = self
                .session
                .uid_store(uids, format!("+FLAGS.SILENT ({flags})"))
                .await?;
            while let Some(answer) = answers.next().await {
                answer?;
            }
            Ok(())
        })
        .await
    }

    /// Removes these messages, which carry `\Deleted`: `UID EXPUNGE` where UIDPLUS is
    /// offered, else `EXPUNGE` (which also removes whatever else carries `\Deleted`).
    pub(crate) async fn expunge(&mut self, uids: &str) -> Result<(), MailboxError> {
        let peer = &self.peer;
        let uidplus = self.offers.uidplus;
        peer.step(Step::Expunge, async {
            if uidplus {
                let mut gone = std::pin::pin!(self.session.uid_expunge(uids).await?);
                while let Some(uid) = gone.next().await {
                    uid?;
                }
            } else {
                let mut gone = std::pin::pin!(self.session.expunge().await?);
                while let Some(seq) = gone.next().await {
                    seq?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Moves these messages to `target`: `UID MOVE` where offered, else copy, mark deleted
    /// and expunge.
    pub(crate) async fn move_to(&mut self, uids: &str, target: &str) -> Result<(), MailboxError> {
        self.ensure_mailbox(target).await?;
        if self.offers.move_ {
            self.peer
                .step(Step::Move, self.session.uid_mv(uids, target))
                .await
        } else {
            self.peer
                .step(Step::Copy, self.session.uid_copy(uids, target))
                .await?;
            self.add_flags(uids, "\\Deleted").await?;
            self.expunge(uids).await
        }
    }

    /// Creates `mailbox` unless this connection already saw it or the server says it exists.
    pub(crate) async fn ensure_mailbox(&mut self, mailbox: &str) -> Result<(), MailboxError> {
        if self.known_mailboxes.contains(mailbox) {
            return Ok(());
        }
        let peer = &self.peer;
        let exists = peer
            .step(Step::Create, async {
                let mut names = self.session.list(None, Some(mailbox)).await?;
                let mut exists = false;
                while let Some(name) = names.next().await {
                    if name?.name() == mailbox {
                        exists = true;
                    }
                }
                Ok(exists)
            })
            .await?;
        if !exists {
            match tokio::time::timeout(peer.timeout, self.session.create(mailbox)).await {
                Ok(Ok(())) => {
                    tracing::info!(server = %peer.server, user = %peer.user, mailbox, "created the mailbox for handled messages");
                }
                // Created meanwhile by another poller: fine.
                Ok(Err(async_imap::error::Error::No(text))) if text.contains("AlreadyExists") => {}
                Ok(Err(e)) => return Err(peer.protocol(Step::Create, &e)),
                Err(_) => return Err(peer.timed_out(Step::Create)),
            }
        }
        self.known_mailboxes.insert(mailbox.to_owned());
        Ok(())
    }

    /// Empties the channel of responses the server sent on its own (EXISTS, EXPUNGE, …): they
    /// are not needed between polls, and a full channel drops the newest.
    pub(crate) fn drain_unsolicited(&mut self) -> usize {
        let mut new_messages = 0;
        while let Ok(response) = self.session.unsolicited_responses.try_recv() {
            if matches!(
                response,
                UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
            ) {
                new_messages += 1;
            }
        }
        new_messages
    }

    /// Says goodbye; errors are only logged (the connection is dropped either way).
    pub(crate) async fn logout(mut self) {
        let peer = self.peer.clone();
        if let Err(e) = peer.step(Step::Logout, self.session.logout()).await {
            tracing::debug!(server = %peer.server, error = %e, "IMAP LOGOUT failed");
        }
    }
}

async fn resolve(settings: &ImapSettings, peer: &Peer) -> Result<Vec<SocketAddr>, MailboxError> {
    let lookup = tokio::net::lookup_host((settings.host.as_str(), settings.port));
    let addresses: Vec<SocketAddr> = match tokio::time::timeout(peer.timeout, lookup).await {
        Ok(Ok(addresses)) => addresses.collect(),
        Ok(Err(e)) => return Err(peer.network(Step::Resolve, e)),
        Err(_) => return Err(peer.timed_out(Step::Resolve)),
    };
    if addresses.is_empty() {
        return Err(peer.network(
            Step::Resolve,
            io::Error::new(io::ErrorKind::NotFound, "the name has no address"),
        ));
    }
    Ok(addresses)
}

async fn tls(
    settings: &ImapSettings,
    peer: &Peer,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, MailboxError> {
    let tls_settings = |detail: String| MailboxError::TlsSettings {
        server: peer.server.clone(),
        detail,
    };
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = &settings.extra_root_certificates {
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let certificate = certificate
                .map_err(|e| tls_settings(format!("cannot read an extra root certificate: {e}")))?;
            roots
                .add(certificate)
                .map_err(|e| tls_settings(format!("an extra root certificate is refused: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(tls_settings(
                "the extra root certificates hold no CERTIFICATE block".to_owned(),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_settings(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(settings.host.clone())
        .map_err(|e| tls_settings(format!("{:?} is not a TLS server name: {e}", settings.host)))?;
    let connector = TlsConnector::from(Arc::new(config));
    match tokio::time::timeout(peer.timeout, connector.connect(name, tcp)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(peer.network(Step::TlsHandshake, e)),
        Err(_) => Err(peer.timed_out(Step::TlsHandshake)),
    }
}

/// Reads the server's greeting: `* OK` (or `* PREAUTH`) goes on, `* BYE` or silence stops.
async fn greeting(
    client: &mut async_imap::Client<ImapStream>,
    peer: &Peer,
) -> Result<(), MailboxError> {
    use async_imap::imap_proto::{Response, Status};
    let greeting = match tokio::time::timeout(peer.timeout, client.read_response()).await {
        Err(_) => return Err(peer.timed_out(Step::Greeting)),
        Ok(Err(e)) => return Err(peer.network(Step::Greeting, e)),
        Ok(Ok(None)) => {
            return Err(MailboxError::Protocol {
                server: peer.server.clone(),
                step: Step::Greeting,
                detail: "the server closed the connection before greeting".to_owned(),
            });
        }
        Ok(Ok(Some(greeting))) => greeting,
    };
    match greeting.parsed() {
        Response::Data {
            status: Status::Ok | Status::PreAuth,
            ..
        } => Ok(()),
        Response::Data { information, .. } => Err(MailboxError::Protocol {
            server: peer.server.clone(),
            step: Step::Greeting,
            detail: format!(
                "the server turned us away: {}",
                information.as_deref().unwrap_or("(no reason given)")
            ),
        }),
        other => Err(MailboxError::Protocol {
            server: peer.server.clone(),
            step: Step::Greeting,
            detail: format!("unexpected greeting {other:?}"),
        }),
    }
}
