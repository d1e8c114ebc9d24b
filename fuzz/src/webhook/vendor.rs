//! A stand-in for the vendor's API on loopback, answering every request a
//! connector makes while it handles a delivery with the response the fuzz
//! input chose: vendor responses are untrusted input too.
//!
//! A plain HTTP/1.1 server on a thread of its own, one request per
//! connection, so that it needs nothing from the runtime under test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use crate::json::{Body, Vocabulary};

/// How the stand-in answers.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// The body, by the request path it answers: the first entry whose key
    /// the path contains, else the last entry.
    pub bodies: Vec<(&'static str, Vec<u8>)>,
}

/// The running stand-in.
#[derive(Debug, Clone)]
pub struct Vendor {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    answer: Arc<Mutex<Answer>>,
}

impl Vendor {
    /// Starts it on a free loopback port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("cannot listen on loopback: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("no local address: {e}"))
            .port();
        let answer = Arc::new(Mutex::new(Answer::default()));
        let shared = answer.clone();
        std::thread::Builder::new()
            .name("vendor-api".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let answer = shared.lock().unwrap_or_else(PoisonError::into_inner).clone();
                    // A connector that gives up mid-request is not the
                    // stand-in's problem.
                    let _ = serve(stream, &answer);
                }
            })
            .unwrap_or_else(|e| panic!("cannot start the vendor stand-in: {e}"));
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            answer,
        }
    }

    /// Answers the next requests with `answer`.
    pub fn answer_with(&self, answer: Answer) {
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = answer;
    }
}

fn serve(stream: TcpStream, answer: &Answer) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line.split(' ').nth(1).unwrap_or_default().to_owned();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let response = answer
        .bodies
        .iter()
        .find(|(key, _)| path.contains(key))
        .or(answer.bodies.last())
        .map(|(_, body)| body.as_slice())
        .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {} Fuzz\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        answer.status,
        response.len()
    );
    for (name, value) in &answer.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut stream = reader.into_inner();
    stream.write_all(out.as_bytes())?;
    stream.write_all(response)?;
    stream.flush()
}

/// The vendor's API responses: the body for each request path key (the
/// first key a path contains), in the order of `words.templates`.
#[derive(Debug)]
pub struct Api {
    /// Path keys, one per template.
    pub keys: &'static [&'static str],
    /// The responses' vocabulary and templates.
    pub words: Vocabulary,
}

impl Api {
    /// An answer built from `u`: mostly `200` with the templates as they
    /// are, sometimes an error status, a `Retry-After`, or edited bodies.
    pub fn answer(&self, u: &mut Unstructured<'_>) -> arbitrary::Result<Answer> {
        let status = if crate::rarely(u, 8)? {
            *u.choose(&[400, 401, 403, 404, 409, 429, 500, 502, 503, 204, 302, 0, 999])?
        } else {
            200
        };
        let mut headers = Vec::new();
        if crate::rarely(u, 8)? {
            let value = if crate::rarely(u, 4)? {
                String::arbitrary(u)?.replace(['\r', '\n'], " ")
            } else {
                (*u.choose(&["1", "0", "-1", "2.5", "99999999999999999999", "soon"])?).to_owned()
            };
            headers.push(("retry-after".to_owned(), value));
        }
        let mut bodies = Vec::new();
        for (key, template) in self.keys.iter().zip(&self.words.templates) {
            let body = if crate::rarely(u, 3)? {
                Body::generate(u, &self.words)?.bytes().to_vec()
            } else {
                template.render().into_bytes()
            };
            bodies.push((*key, body));
        }
        Ok(Answer {
            status,
            headers,
            bodies,
        })
    }
}
