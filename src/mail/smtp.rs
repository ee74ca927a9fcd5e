//! SMTP delivery with mail-send: one connection per delivery pass, reused
//! for every message of the pass, and errors worded as what to check.

use std::time::Duration;

use mail_send::mail_builder::MessageBuilder;
use mail_send::mail_builder::headers::raw::Raw;
use mail_send::{Credentials, SmtpClient, SmtpClientBuilder};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::{SmtpConfig, SmtpTls};
use crate::db::outbox::OutboxMail;

/// How long one SMTP step (connect, a command, the data transfer) may take.
/// mail-send's own default is an hour, far longer than a mail lease.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// SMTP settings plus the knobs that are not user configuration.
#[derive(Debug, Clone)]
pub struct SmtpTransport {
    pub(crate) config: SmtpConfig,
    pub(crate) accept_invalid_certs: bool,
    pub(crate) timeout: Duration,
}

/// Any stream mail-send can talk over; boxing lets plain and TLS connections
/// share one type without naming tokio-rustls types here.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// An open, greeted and (if configured) authenticated SMTP connection.
pub(crate) struct Session {
    client: SmtpClient<Box<dyn Stream>>,
}

/// Why a delivery failed, already worded for the operator.
#[derive(Debug)]
pub(crate) struct DeliveryError {
    pub message: String,
    /// The server answered with a reply (rather than the connection failing),
    /// so the same connection can be reset and reused.
    pub connection_usable: bool,
}

impl SmtpTransport {
    fn addr(&self) -> String {
        format!("{}:{}", self.config.host, self.config.port)
    }

    /// Opens a connection as the TLS mode asks: plain, STARTTLS upgrade, or
    /// TLS from the first byte.
    pub(crate) async fn connect(&self) -> Result<Session, String> {
        let cfg = &self.config;
        let mut builder = SmtpClientBuilder::new(cfg.host.clone(), cfg.port)
            .map_err(|e| {
                format!(
                    "cannot set up TLS for SMTP server {} ({e}): the system's certificate store could not be loaded; install ca-certificates",
                    self.addr()
                )
            })?
            .timeout(self.timeout)
            .implicit_tls(cfg.tls == SmtpTls::Implicit);
        if self.accept_invalid_certs {
            builder = builder.allow_invalid_certs();
        }
        if let Some(username) = &cfg.username {
            let password = cfg.password.as_ref().map(|p| p.expose().clone()).unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        let client: SmtpClient<Box<dyn Stream>> = match cfg.tls {
            SmtpTls::None => {
                // mail-send bounds the TLS connect as a whole but not the
                // plain one's greeting: a server that accepts and then says
                // nothing would hold the pass (and its lease) forever.
                let c = tokio::time::timeout(self.timeout, builder.connect_plain())
                    .await
                    .unwrap_or(Err(mail_send::Error::Timeout))
                    .map_err(|e| self.explain_connect(&e))?;
                SmtpClient { stream: Box::new(c.stream), timeout: c.timeout }
            }
            SmtpTls::StartTls | SmtpTls::Implicit => {
                let c = builder.connect().await.map_err(|e| self.explain_connect(&e))?;
                SmtpClient { stream: Box::new(c.stream), timeout: c.timeout }
            }
        };
        Ok(Session { client })
    }

    /// Builds the MIME message: multipart/alternative when there is HTML.
    fn message<'a>(&'a self, mail: &'a OutboxMail) -> MessageBuilder<'a> {
        let (name, address) = split_from(&self.config.from);
        let domain = address.rsplit_once('@').map_or("localhost", |(_, d)| d);
        let mut message = MessageBuilder::new();
        message = match name {
            Some(name) => message.from((name, address)),
            None => message.from(address),
        };
        message = message
            .to(mail.to.as_str())
            .subject(mail.subject.as_str())
            // One Message-ID per outbox row: should a retry ever deliver a
            // message twice, mail clients can tell it is the same one.
            .message_id(format!("{}@{domain}", mail.id))
            // RFC 3834: automatic mail; well-behaved auto-responders stay quiet.
            .header("Auto-Submitted", Raw::new("auto-generated"))
            .text_body(mail.text.as_str());
        if let Some(html) = &mail.html {
            message = message.html_body(html.as_str());
        }
        message
    }

    fn explain_connect(&self, e: &mail_send::Error) -> String {
        use mail_send::Error as E;
        let addr = self.addr();
        match e {
            E::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!(
                "SMTP server {addr} refused the connection: check PORTAL_SMTP_HOST/PORT and that the server is running"
            ),
            E::Io(io) => format!(
                "cannot connect to SMTP server {addr} ({io}): check PORTAL_SMTP_HOST/PORT and the network"
            ),
            E::Tls(tls) => format!(
                "TLS with SMTP server {addr} failed ({tls}): check that PORTAL_SMTP_TLS matches the port (implicit for 465, starttls for 587), and that the server's certificate names {} and comes from an authority this machine trusts",
                self.config.host
            ),
            E::InvalidTLSName => format!(
                "PORTAL_SMTP_HOST {:?} is not a valid name for TLS: use the host name on the server's certificate",
                self.config.host
            ),
            E::MissingStartTls => format!(
                "SMTP server {addr} does not offer STARTTLS: set PORTAL_SMTP_TLS=implicit (usually port 465), or none if the network is trusted"
            ),
            E::AuthenticationFailed(reply) => format!(
                "SMTP server {addr} rejected the credentials ({} {}): check PORTAL_SMTP_USERNAME and PORTAL_SMTP_PASSWORD",
                reply.code, reply.message
            ),
            E::UnsupportedAuthMechanism => format!(
                "SMTP server {addr} offers no sign-in method the portal supports (PLAIN, LOGIN): it may only allow sign-in over TLS (check PORTAL_SMTP_TLS), or unset PORTAL_SMTP_USERNAME if it needs none"
            ),
            E::MissingCredentials | E::Auth(_) | E::Base64(_) => format!(
                "signing in to SMTP server {addr} failed ({e}): check PORTAL_SMTP_USERNAME and PORTAL_SMTP_PASSWORD"
            ),
            E::Timeout => format!(
                "SMTP server {addr} did not answer within {}s: check PORTAL_SMTP_HOST/PORT, the firewall, and PORTAL_SMTP_TLS (port 465 usually needs implicit)",
                self.timeout.as_secs()
            ),
            E::UnparseableReply => format!(
                "SMTP server {addr} did not speak SMTP as expected: check PORTAL_SMTP_PORT and PORTAL_SMTP_TLS (implicit for 465, starttls for 587, none for a plain relay)"
            ),
            E::UnexpectedReply(reply) => format!(
                "SMTP server {addr} turned the connection down ({} {}): {}",
                reply.code,
                reply.message,
                reply_hint(reply.code)
            ),
            E::MissingMailFrom | E::MissingRcptTo => {
                format!("SMTP server {addr}: {e}")
            }
        }
    }
}

impl Session {
    /// Sends one message over this connection.
    pub(crate) async fn send(
        &mut self,
        transport: &SmtpTransport,
        mail: &OutboxMail,
    ) -> Result<(), DeliveryError> {
        let message = transport.message(mail);
        match self.client.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => Err(explain_send(transport, &e)),
        }
    }

    /// Clears a refused transaction so the next message can use the same
    /// connection. False when the connection is gone.
    pub(crate) async fn reset(&mut self) -> bool {
        self.client.rset().await.is_ok()
    }

    /// Says goodbye; errors do not matter any more at this point.
    pub(crate) async fn quit(self) {
        let _ = self.client.quit().await;
    }
}

fn explain_send(transport: &SmtpTransport, e: &mail_send::Error) -> DeliveryError {
    use mail_send::Error as E;
    let addr = transport.addr();
    match e {
        E::UnexpectedReply(reply) => DeliveryError {
            message: format!(
                "SMTP server {addr} refused the message ({} {}): {}",
                reply.code,
                reply.message,
                reply_hint(reply.code)
            ),
            connection_usable: reply.code != 421,
        },
        E::Io(io) => DeliveryError {
            message: format!(
                "the connection to SMTP server {addr} broke while sending ({io}); the portal will retry"
            ),
            connection_usable: false,
        },
        E::Timeout => DeliveryError {
            message: format!(
                "SMTP server {addr} stopped answering while sending (no reply within {}s); the portal will retry",
                transport.timeout.as_secs()
            ),
            connection_usable: false,
        },
        other => DeliveryError {
            message: format!("sending through SMTP server {addr} failed: {other}"),
            connection_usable: false,
        },
    }
}

/// What an SMTP reply code asks of the operator.
fn reply_hint(code: u16) -> &'static str {
    match code {
        421 | 450 | 451 | 452 => "the server is busy or limiting; the portal will retry",
        530 | 535 => {
            "the server wants a signed-in sender: check PORTAL_SMTP_USERNAME and PORTAL_SMTP_PASSWORD"
        }
        550 | 551 | 553 => {
            "check the recipient address, and that PORTAL_SMTP_FROM may send through this server"
        }
        554 => "the server rejected the message as a whole; check its logs for the reason",
        c if (400..500).contains(&c) => "a temporary failure; the portal will retry",
        _ => "check the server's logs and the PORTAL_SMTP_* settings",
    }
}

/// Splits `"Name <addr>"` into its display name and address; a bare address
/// has no name.
pub(crate) fn split_from(from: &str) -> (Option<&str>, &str) {
    match from.rsplit_once('<') {
        Some((name, rest)) => {
            let address = rest.trim_end().trim_end_matches('>').trim();
            let name = name.trim().trim_matches('"').trim();
            ((!name.is_empty()).then_some(name), address)
        }
        None => (None, from.trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_with_and_without_a_display_name() {
        assert_eq!(
            split_from("OsirisCare Portal <portal@example.com>"),
            (Some("OsirisCare Portal"), "portal@example.com")
        );
        assert_eq!(
            split_from("\"Portal, Inc\" <p@example.com>"),
            (Some("Portal, Inc"), "p@example.com")
        );
        assert_eq!(split_from("<p@example.com>"), (None, "p@example.com"));
        assert_eq!(split_from(" p@example.com "), (None, "p@example.com"));
    }

    #[test]
    fn reply_hints_tell_temporary_from_configuration_problems() {
        assert!(reply_hint(451).contains("retry"));
        assert!(reply_hint(535).contains("PORTAL_SMTP_PASSWORD"));
        assert!(reply_hint(550).contains("recipient"));
    }
}
