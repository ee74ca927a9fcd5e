//! A small but real ESMTP server for tests, in process on 127.0.0.1 with an
//! OS-chosen port: greeting, EHLO/HELO, STARTTLS, AUTH PLAIN/LOGIN, MAIL,
//! RCPT, DATA (with dot-unstuffing), RSET, NOOP, QUIT. Plain, STARTTLS or
//! implicit TLS (self-signed certificate for "localhost"), and failure modes
//! for retry tests. Every accepted message is recorded; tests await the next
//! one through a channel, with a timeout only as a safety net.

#![allow(dead_code)] // each test uses a different subset

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use portal::config::{Secret, SmtpConfig, SmtpTls};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// How long `next_message` waits before failing the test.
const WAIT: Duration = Duration::from_secs(15);
/// Longest command line accepted (RFC 5321 allows 512; AUTH lines are longer).
const MAX_LINE: usize = 4096;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Plain,
    StartTls,
    Implicit,
}

/// How the server treats clients; can be changed while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// A healthy server.
    Accept,
    /// Greets, then answers MAIL FROM with "451 try again later".
    Reject451,
    /// Answers every connection with "421 service not available" and hangs up.
    Refuse421,
    /// Accepts connections and never says a word.
    Silent,
}

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message exactly as transferred, after dot-unstuffing.
    pub data: Vec<u8>,
    /// The user name the client signed in with, if it did.
    pub auth_user: Option<String>,
    /// Whether the message travelled over TLS.
    pub tls: bool,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.data)
            .expect("the received message parses as MIME")
    }

    pub fn data_str(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

struct Shared {
    security: Security,
    behavior: Mutex<Behavior>,
    credentials: Option<(String, String)>,
    received: Mutex<Vec<Received>>,
    tx: mpsc::UnboundedSender<Received>,
    tls: Option<TlsAcceptor>,
    connections: Mutex<usize>,
}

pub struct SmtpServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which aborts every
        // connection task.
        self.task.abort();
    }
}

impl SmtpServer {
    pub async fn start(security: Security) -> SmtpServer {
        Self::start_with(security, None).await
    }

    /// A server that requires signing in with these credentials before MAIL.
    pub async fn with_auth(security: Security, user: &str, password: &str) -> SmtpServer {
        Self::start_with(security, Some((user.to_owned(), password.to_owned()))).await
    }

    async fn start_with(security: Security, credentials: Option<(String, String)>) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let tls = (security != Security::Plain).then(tls_acceptor);
        let shared = Arc::new(Shared {
            security,
            behavior: Mutex::new(Behavior::Accept),
            credentials,
            received: Mutex::new(Vec::new()),
            tx,
            tls,
            connections: Mutex::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        SmtpServer { addr, shared, rx: tokio::sync::Mutex::new(rx), task }
    }

    pub fn set_behavior(&self, behavior: Behavior) {
        *self.shared.behavior.lock().unwrap() = behavior;
    }

    /// Waits for the next accepted message (in arrival order).
    pub async fn next_message(&self) -> Received {
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("no message reached the test SMTP server in time")
            .expect("the test SMTP server stopped")
    }

    /// Every message accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        *self.shared.connections.lock().unwrap()
    }

    /// Portal settings pointing at this server (host "localhost", which the
    /// self-signed certificate names).
    pub fn config(&self) -> SmtpConfig {
        SmtpConfig {
            host: "localhost".into(),
            port: self.addr.port(),
            tls: match self.shared.security {
                Security::Plain => SmtpTls::None,
                Security::StartTls => SmtpTls::StartTls,
                Security::Implicit => SmtpTls::Implicit,
            },
            username: self.shared.credentials.as_ref().map(|(u, _)| u.clone()),
            password: self.shared.credentials.as_ref().map(|(_, p)| Secret::new(p.clone())),
            from: "OsirisCare Portal <portal@osiris.example>".into(),
        }
    }

    /// A transport for this server that trusts its self-signed certificate.
    pub fn transport(&self) -> portal::mail::Transport {
        portal::mail::Transport::smtp(self.config())
            .accept_invalid_certs()
            .with_timeout(Duration::from_secs(10))
    }
}

/// A TLS acceptor with a fresh self-signed certificate for "localhost".
/// The ring provider is named explicitly: the process default is left alone.
fn tls_acceptor() -> TlsAcceptor {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                *shared.connections.lock().unwrap() += 1;
                connections.spawn(serve_connection(stream, shared.clone()));
            }
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let behavior = *shared.behavior.lock().unwrap();
    match shared.security {
        Security::Implicit => {
            let Some(acceptor) = shared.tls.clone() else {
                return;
            };
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let _ = session(tls, &shared, true, behavior, true).await;
        }
        Security::Plain | Security::StartTls => {
            // Some(stream): the client asked for STARTTLS.
            if let Ok(Some(plain)) = session(stream, &shared, false, behavior, true).await {
                let Some(acceptor) = shared.tls.clone() else {
                    return;
                };
                let Ok(tls) = acceptor.accept(plain).await else {
                    return;
                };
                // After STARTTLS the client starts over with EHLO; no new
                // greeting.
                let _ = session(tls, &shared, true, behavior, false).await;
            }
        }
    }
}

/// Runs the SMTP dialogue until QUIT or EOF. Returns the raw stream when the
/// client asked for STARTTLS, for the caller to upgrade.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    shared: &Shared,
    tls: bool,
    behavior: Behavior,
    greet: bool,
) -> std::io::Result<Option<S>> {
    let mut conn = BufReader::new(stream);
    if behavior == Behavior::Silent {
        // Hold the connection open until the client gives up.
        let mut sink = Vec::new();
        let _ = conn.read_to_end(&mut sink).await;
        return Ok(None);
    }
    if greet {
        if behavior == Behavior::Refuse421 {
            reply(&mut conn, "421 4.3.2 localhost Service not available, try again later").await?;
            return Ok(None);
        }
        reply(&mut conn, "220 localhost ESMTP portal-test").await?;
    }
    let mut auth_user: Option<String> = None;
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    loop {
        let Some(line) = read_line(&mut conn).await? else {
            return Ok(None);
        };
        let upper = line.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("");
        match verb {
            "EHLO" => {
                let mut caps = vec!["localhost greets you", "8BITMIME", "SIZE 10485760"];
                if shared.security == Security::StartTls && !tls {
                    caps.push("STARTTLS");
                } else {
                    caps.push("AUTH PLAIN LOGIN");
                }
                let last = caps.len() - 1;
                let mut text = String::new();
                for (i, cap) in caps.iter().enumerate() {
                    let sep = if i == last { ' ' } else { '-' };
                    text.push_str(&format!("250{sep}{cap}\r\n"));
                }
                conn.get_mut().write_all(text.as_bytes()).await?;
                conn.get_mut().flush().await?;
                mail_from = None;
                rcpt_to.clear();
            }
            "HELO" => reply(&mut conn, "250 localhost").await?,
            "STARTTLS" => {
                if shared.security == Security::StartTls && !tls {
                    reply(&mut conn, "220 2.0.0 Ready to start TLS").await?;
                    return Ok(Some(conn.into_inner()));
                }
                reply(&mut conn, "502 5.5.1 STARTTLS not available").await?;
            }
            "AUTH" => {
                let parts: Vec<&str> = line.split_whitespace().collect();
                let mechanism = parts.get(1).map(|m| m.to_ascii_uppercase());
                let credentials = match mechanism.as_deref() {
                    Some("PLAIN") => {
                        let payload = match parts.get(2) {
                            Some(p) => (*p).to_owned(),
                            None => {
                                reply(&mut conn, "334 ").await?;
                                read_line(&mut conn).await?.unwrap_or_default()
                            }
                        };
                        decode(&payload).and_then(|raw| {
                            let mut fields = raw.split('\0');
                            let _authzid = fields.next()?;
                            Some((fields.next()?.to_owned(), fields.next()?.to_owned()))
                        })
                    }
                    Some("LOGIN") => {
                        reply(&mut conn, "334 VXNlcm5hbWU6").await?;
                        let user = read_line(&mut conn).await?.unwrap_or_default();
                        reply(&mut conn, "334 UGFzc3dvcmQ6").await?;
                        let pass = read_line(&mut conn).await?.unwrap_or_default();
                        decode(&user).zip(decode(&pass))
                    }
                    _ => {
                        reply(&mut conn, "504 5.5.4 Unrecognized authentication type").await?;
                        continue;
                    }
                };
                let ok = match (&credentials, &shared.credentials) {
                    (Some(given), Some(expected)) => given == expected,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if ok {
                    auth_user = credentials.map(|(u, _)| u);
                    reply(&mut conn, "235 2.7.0 Authentication successful").await?;
                } else {
                    reply(&mut conn, "535 5.7.8 Authentication credentials invalid").await?;
                }
            }
            "MAIL" => {
                let behavior = *shared.behavior.lock().unwrap();
                if behavior == Behavior::Reject451 {
                    reply(&mut conn, "451 4.3.0 Mail server temporarily rejected message").await?;
                } else if shared.credentials.is_some() && auth_user.is_none() {
                    reply(&mut conn, "530 5.7.0 Authentication required").await?;
                } else if let Some(addr) = angle_address(&line) {
                    mail_from = Some(addr);
                    rcpt_to.clear();
                    reply(&mut conn, "250 2.1.0 OK").await?;
                } else {
                    reply(&mut conn, "501 5.1.7 Bad sender address syntax").await?;
                }
            }
            "RCPT" => {
                if mail_from.is_none() {
                    reply(&mut conn, "503 5.5.1 Need MAIL first").await?;
                } else if let Some(addr) = angle_address(&line) {
                    rcpt_to.push(addr);
                    reply(&mut conn, "250 2.1.5 OK").await?;
                } else {
                    reply(&mut conn, "501 5.1.3 Bad recipient address syntax").await?;
                }
            }
            "DATA" => {
                let Some(from) = mail_from.clone().filter(|_| !rcpt_to.is_empty()) else {
                    reply(&mut conn, "503 5.5.1 Need MAIL and RCPT first").await?;
                    continue;
                };
                reply(&mut conn, "354 End data with <CR><LF>.<CR><LF>").await?;
                let data = read_data(&mut conn).await?;
                let message = Received {
                    mail_from: from,
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                    auth_user: auth_user.clone(),
                    tls,
                };
                shared.received.lock().unwrap().push(message.clone());
                let _ = shared.tx.send(message);
                mail_from = None;
                reply(&mut conn, "250 2.0.0 OK queued").await?;
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                reply(&mut conn, "250 2.0.0 OK").await?;
            }
            "NOOP" => reply(&mut conn, "250 2.0.0 OK").await?,
            "QUIT" => {
                reply(&mut conn, "221 2.0.0 Bye").await?;
                return Ok(None);
            }
            _ => reply(&mut conn, "500 5.5.2 Command not recognized").await?,
        }
    }
}

async fn reply<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut BufReader<S>,
    text: &str,
) -> std::io::Result<()> {
    let stream = conn.get_mut();
    stream.write_all(text.as_bytes()).await?;
    stream.write_all(b"\r\n").await?;
    stream.flush().await
}

/// One command line without its CRLF; `None` at end of stream.
async fn read_line<S: AsyncRead + Unpin>(
    conn: &mut BufReader<S>,
) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = (&mut *conn).take(MAX_LINE as u64).read_until(b'\n', &mut buf).await?;
    if n == 0 {
        return Ok(None);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// The message after DATA up to the lone "." line, with the transparency
/// dot removed from lines that start with one (RFC 5321 4.5.2).
async fn read_data<S: AsyncRead + Unpin>(conn: &mut BufReader<S>) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = conn.read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed during DATA",
            ));
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(data);
        }
        let content = if line.first() == Some(&b'.') { &line[1..] } else { &line[..] };
        data.extend_from_slice(content);
    }
}

fn decode(b64: &str) -> Option<String> {
    B64.decode(b64.trim()).ok().and_then(|bytes| String::from_utf8(bytes).ok())
}

/// The address between the first `<` and the following `>`.
fn angle_address(line: &str) -> Option<String> {
    let start = line.find('<')? + 1;
    let end = start + line[start..].find('>')?;
    Some(line[start..end].to_owned())
}
