//! A real SMTP server for tests: mailin-embedded on a loopback port, recording every
//! message it accepts (envelope and bytes), and the transport that sends to it. Tests drain
//! the outbox through the `Dispatcher` with that transport and assert on what the server
//! received, parsed with mail-parser, as a recipient's mail client would read it.

use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailin_embedded::{Handler, Response, Server, SslConfig, response};
use vitrine_mail::{SmtpConfig, SmtpTransport, TlsMode};

/// One message as the SMTP server received it.
#[derive(Clone, Debug, Default)]
pub struct Delivery {
    /// The envelope sender (MAIL FROM).
    pub from: String,
    /// The envelope recipients (RCPT TO), in the order given.
    pub recipients: Vec<String>,
    /// The message (DATA), as sent.
    pub data: Vec<u8>,
}

impl Delivery {
    /// The message, parsed.
    #[track_caller]
    pub fn message(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.data)
            .unwrap_or_else(|| {
                panic!(
                    "the server received something that is not a message: {}",
                    String::from_utf8_lossy(&self.data)
                )
            })
    }

    /// What a mail client shows and threads by.
    #[track_caller]
    pub fn received(&self) -> Received {
        let message = self.message();
        let ids = |value: &mail_parser::HeaderValue<'_>| -> Vec<String> {
            value
                .as_text_list()
                .map(|ids| ids.iter().map(|id| id.to_string()).collect())
                .unwrap_or_default()
        };
        Received {
            recipients: self.recipients.clone(),
            subject: message.subject().unwrap_or_default().to_owned(),
            text: message
                .body_text(0)
                .map(|text| text.replace("\r\n", "\n"))
                .unwrap_or_default(),
            message_id: message.message_id().unwrap_or_default().to_owned(),
            in_reply_to: ids(message.in_reply_to()),
            references: ids(message.references()),
            date: message.date().map(|d| d.to_rfc3339()),
            content_language: message
                .header_raw("Content-Language")
                .map(|v| v.trim().to_owned()),
        }
    }
}

/// A received message, read: header values without their angle brackets, as mail-parser
/// gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub recipients: Vec<String>,
    pub subject: String,
    /// The plain-text part, with `\n` line ends (it travels with `\r\n`).
    pub text: String,
    pub message_id: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The `Date` header, RFC 3339.
    pub date: Option<String>,
    pub content_language: Option<String>,
}

/// Records every delivery.
#[derive(Clone, Default)]
struct Recorder {
    current: Delivery,
    delivered: Arc<Mutex<Vec<Delivery>>>,
}

impl Handler for Recorder {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        // A new transaction, possibly on a connection that already carried others.
        self.current = Delivery {
            from: from.to_owned(),
            ..Delivery::default()
        };
        response::OK
    }
    fn rcpt(&mut self, to: &str) -> Response {
        self.current.recipients.push(to.to_owned());
        response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.data.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> Response {
        self.delivered
            .lock()
            .expect("lock")
            .push(std::mem::take(&mut self.current));
        response::OK
    }
}

/// A running SMTP server (it runs until the test process ends).
pub struct SmtpServer {
    pub port: u16,
    delivered: Arc<Mutex<Vec<Delivery>>>,
}

impl SmtpServer {
    /// Starts a server on a free loopback port, without TLS.
    pub fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("address").port();
        let recorder = Recorder::default();
        let delivered = Arc::clone(&recorder.delivered);
        let mut server = Server::new(recorder);
        server
            .with_name("smtp.test")
            .with_ssl(SslConfig::None)
            .expect("no TLS")
            // One thread per open session: more than the connections the transport keeps
            // open at once, or a new connection would wait for a thread that never frees.
            .with_num_threads(32)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            if let Err(err) = server.serve() {
                panic!("the test SMTP server stopped: {err}");
            }
        });
        SmtpServer { port, delivered }
    }

    /// A transport sending to this server.
    pub fn transport(&self) -> SmtpTransport {
        SmtpTransport::new(&SmtpConfig {
            port: self.port,
            timeout: Duration::from_secs(10),
            hello_name: Some("vitrine.test".into()),
            ..SmtpConfig::new("127.0.0.1", TlsMode::None)
        })
        .expect("SMTP transport")
    }

    /// Every message received so far, in the order they arrived.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.delivered.lock().expect("lock").clone()
    }

    /// The messages received since the last call, in the order they arrived.
    pub fn take(&self) -> Vec<Delivery> {
        std::mem::take(&mut *self.delivered.lock().expect("lock"))
    }
}
