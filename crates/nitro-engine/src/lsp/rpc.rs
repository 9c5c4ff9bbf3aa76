//! JSON-RPC 2.0 with a language server over its standard input and output:
//! each message is a `Content-Length` header, a blank line and the JSON
//! (the LSP base protocol). Requests get ids and wait for their response;
//! what the server sends on its own (notifications, and requests, which are
//! answered with an empty result) goes to `incoming`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::tasks::Tasks;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

use super::LspError;

/// A server's message larger than this ends the connection.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// A request the server has not answered by then is cancelled.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

type Pending = Arc<Mutex<HashMap<i64, oneshot::Sender<Result<Value, LspError>>>>>;

/// A notification from the server: its method and params.
pub type Notice = (String, Value);

#[derive(Clone)]
pub struct Rpc {
    out: mpsc::UnboundedSender<Value>,
    pending: Pending,
    next: Arc<AtomicI64>,
}

impl Rpc {
    /// Talks over `reader` and `writer`; the server's own messages come out
    /// of the returned receiver, which closes when the server's output ends.
    pub fn start(
        reader: impl AsyncRead + Unpin + Send + 'static,
        writer: impl AsyncWrite + Unpin + Send + 'static,
        tasks: &Tasks,
    ) -> (Self, mpsc::UnboundedReceiver<Notice>) {
        let (out, mut to_send) = mpsc::unbounded_channel::<Value>();
        let (incoming, notices) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        tasks.spawn(async move {
            let mut writer = writer;
            while let Some(msg) = to_send.recv().await {
                let body = msg.to_string();
                let framed = format!("Content-Length: {}\r\n\r\n{body}", body.len());
                if writer.write_all(framed.as_bytes()).await.is_err() || writer.flush().await.is_err() {
                    break;
                }
            }
        });
        let rpc = Self { out, pending: pending.clone(), next: Arc::default() };
        let replies = rpc.out.clone();
        tasks.spawn(async move {
            let mut reader = BufReader::new(reader);
            loop {
                let msg = match read_message(&mut reader).await {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "a language server sent something unreadable");
                        break;
                    }
                };
                let id = msg.get("id").cloned();
                match (msg.get("method").and_then(Value::as_str), id) {
                    // A request from the server: answered, as far as this client goes, with nothing.
                    (Some(_), Some(id)) => {
                        let _ = replies.send(json!({"jsonrpc": "2.0", "id": id, "result": null}));
                    }
                    (Some(method), None) => {
                        let _ = incoming.send((method.to_owned(), msg.get("params").cloned().unwrap_or(Value::Null)));
                    }
                    (None, Some(id)) => {
                        let Some(id) = id.as_i64() else { continue };
                        let waiting = pending.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
                        if let Some(reply) = waiting {
                            let result = match msg.get("error") {
                                Some(e) => Err(LspError::Server(e.get("message").and_then(Value::as_str).unwrap_or("error").to_owned())),
                                None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
                            };
                            let _ = reply.send(result);
                        }
                    }
                    (None, None) => {}
                }
            }
            // Whoever still waits learns the server is gone.
            pending.lock().unwrap_or_else(PoisonError::into_inner).clear();
        });
        (rpc, notices)
    }

    /// Sends a request and waits for its result, at most [`ANSWER_WITHIN`].
    /// A request given up (timed out, or its caller gone) is cancelled at
    /// the server (`$/cancelRequest`) and forgotten here.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, LspError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).insert(id, tx);
        let _cancel = Cancel { rpc: self, id };
        self.out.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).map_err(|_| LspError::Gone)?;
        match tokio::time::timeout(ANSWER_WITHIN, rx).await {
            Ok(answer) => answer.map_err(|_| LspError::Gone)?,
            Err(_) => Err(LspError::Server("no answer in time".into())),
        }
    }

    pub fn notify(&self, method: &str, params: Value) -> Result<(), LspError> {
        self.out.send(json!({"jsonrpc": "2.0", "method": method, "params": params})).map_err(|_| LspError::Gone)
    }
}

/// Forgets a request on every way out of [`Rpc::request`]; one still
/// waiting for its answer is cancelled at the server.
struct Cancel<'a> {
    rpc: &'a Rpc,
    id: i64,
}

impl Drop for Cancel<'_> {
    fn drop(&mut self) {
        let waiting = self.rpc.pending.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
        if waiting.is_some() {
            let _ = self.rpc.notify("$/cancelRequest", json!({"id": self.id}));
        }
    }
}

/// One framed message; `None` at the end of the stream.
async fn read_message(reader: &mut (impl AsyncBufReadExt + Unpin)) -> Result<Option<Value>, LspError> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.map_err(|e| LspError::Io(e.to_string()))? == 0 {
            return Ok(None);
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let length = length.ok_or(LspError::Protocol("a message without Content-Length"))?;
    if length > MAX_MESSAGE {
        return Err(LspError::Protocol("a message larger than 64 MiB"));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.map_err(|e| LspError::Io(e.to_string()))?;
    serde_json::from_slice(&body).map(Some).map_err(|_| LspError::Protocol("a message that is not JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server on the other end of an in-memory pipe that answers one
    /// request, sends a notification, and asks the client something.
    #[tokio::test]
    async fn requests_get_their_answers_and_notices_arrive() {
        let (client_side, server_side) = tokio::io::duplex(1 << 16);
        let (read, write) = tokio::io::split(client_side);
        let (rpc, mut notices) = Rpc::start(read, write, &Tasks::new());
        let (server_read, mut server_write) = tokio::io::split(server_side);
        let server = tokio::spawn(async move {
            let mut reader = BufReader::new(server_read);
            let request = read_message(&mut reader).await.expect("read").expect("a request");
            assert_eq!(request["method"], "initialize");
            let frame = |v: Value| format!("Content-Length: {}\r\n\r\n{}", v.to_string().len(), v);
            let id = request["id"].clone();
            let notice = frame(json!({"jsonrpc": "2.0", "method": "window/logMessage", "params": {"message": "hi"}}));
            let ask = frame(json!({"jsonrpc": "2.0", "id": 99, "method": "workspace/configuration", "params": {}}));
            let answer = frame(json!({"jsonrpc": "2.0", "id": id, "result": {"capabilities": {}}}));
            server_write.write_all(format!("{notice}{ask}{answer}").as_bytes()).await.expect("write");
            // The client answers the server's own request.
            let reply = read_message(&mut reader).await.expect("read").expect("a reply");
            assert_eq!(reply["id"], 99);
        });
        let result = rpc.request("initialize", json!({})).await.expect("answered");
        assert_eq!(result, json!({"capabilities": {}}));
        assert_eq!(notices.recv().await.map(|(m, _)| m).as_deref(), Some("window/logMessage"));
        server.await.expect("server");
    }
}
