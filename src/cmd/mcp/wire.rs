//! The stdio line protocol under `shards mcp`, in front of rmcp.
//!
//! rmcp's own stdio transport drops a line that is not JSON, answers a batch
//! with one error without an id (so no id in it is ever answered), and sends
//! a bad value back whole in its errors. This transport reads stdin itself:
//! a line that is not JSON gets -32700 with `id: null`; a JSON line that is
//! no message gets -32600 under its own id when it has one; a batch is taken
//! under the protocol versions that have batches (2024-11-05, 2025-03-26:
//! its requests go to rmcp one by one and their answers leave as one array)
//! and refused from 2025-06-18 on, which removed them, with an error for each
//! of its ids. Every error leaving the server quotes a long value as a short
//! prefix and its size. Good messages reach rmcp unchanged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::RoleServer;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, JsonRpcMessage, ProtocolVersion,
    RequestId, ServerJsonRpcMessage, ServerResult,
};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Stdin, Stdout};
use tokio::sync::mpsc;

use super::clip::bound;

/// The longest line taken (as rmcp's own transport); a longer one is
/// answered with an error and skipped.
const MAX_LINE: usize = 16 * 1024 * 1024;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;

/// The server's side of stdio, for `serve`.
pub struct Wire {
    incoming: mpsc::Receiver<ClientJsonRpcMessage>,
    out: Out,
    state: Shared,
}

type Out = Arc<tokio::sync::Mutex<Stdout>>;
type Shared = Arc<Mutex<State>>;

/// What the reader and the writer share: the negotiated version and the
/// batches whose answers are being gathered.
#[derive(Default)]
struct State {
    /// The version `initialize` agreed on, once it has.
    version: Option<ProtocolVersion>,
    /// Batches still waiting for answers, by number.
    batches: HashMap<u64, Batch>,
    /// The batch each unanswered request of a batch belongs to.
    waiting: HashMap<RequestId, u64>,
    next_batch: u64,
}

/// The answers of one batch so far.
struct Batch {
    replies: Vec<Value>,
    pending: usize,
}

impl Wire {
    /// Starts reading stdin; call inside the tokio runtime.
    pub fn stdio() -> Wire {
        let out = Arc::new(tokio::sync::Mutex::new(tokio::io::stdout()));
        let state = Shared::default();
        let (tx, incoming) = mpsc::channel(16);
        tokio::spawn(read_loop(
            BufReader::new(tokio::io::stdin()),
            tx,
            out.clone(),
            state.clone(),
        ));
        Wire {
            incoming,
            out,
            state,
        }
    }
}

impl Transport<RoleServer> for Wire {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let line = lock(&self.state).outgoing(item);
        let out = self.out.clone();
        async move {
            match line {
                Ok(Some(value)) => write(&out, &[value]).await,
                Ok(None) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        self.incoming.recv().await
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.out.lock().await.flush().await
    }
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// The line to write for an outgoing message, or none while its batch
    /// waits for other answers.
    fn outgoing(&mut self, item: ServerJsonRpcMessage) -> serde_json::Result<Option<Value>> {
        let id = match &item {
            JsonRpcMessage::Response(r) => {
                if let ServerResult::InitializeResult(init) = &r.result {
                    self.version = Some(init.protocol_version.clone());
                }
                Some(r.id.clone())
            }
            JsonRpcMessage::Error(e) => e.id.clone(),
            _ => None,
        };
        let mut value = serde_json::to_value(&item)?;
        bound(&mut value);
        Ok(match id {
            Some(id) if self.waiting.contains_key(&id) => self.answer(&id, Some(value)),
            _ => Some(value),
        })
    }

    /// Files the answer (none for a cancelled request) of a batch's request;
    /// returns the batch's array once it is complete.
    fn answer(&mut self, id: &RequestId, reply: Option<Value>) -> Option<Value> {
        let number = self.waiting.remove(id)?;
        let batch = self.batches.get_mut(&number)?;
        batch.replies.extend(reply);
        batch.pending -= 1;
        if batch.pending > 0 {
            return None;
        }
        let batch = self.batches.remove(&number)?;
        (!batch.replies.is_empty()).then_some(Value::Array(batch.replies))
    }

    /// Whether the negotiated version has JSON-RPC batches: 2025-03-26 made
    /// receiving them a must, 2025-06-18 removed them.
    fn takes_batches(&self) -> bool {
        self.version
            .as_ref()
            .is_some_and(|v| v.as_str() < ProtocolVersion::V_2025_06_18.as_str())
    }
}

/// Reads stdin line by line until it ends: messages go to rmcp, what is no
/// message is answered here.
async fn read_loop(
    mut input: BufReader<Stdin>,
    tx: mpsc::Sender<ClientJsonRpcMessage>,
    out: Out,
    state: Shared,
) {
    let mut line = Vec::new();
    loop {
        let (messages, replies) = match read_line(&mut input, &mut line).await {
            Ok(Line::Eof) | Err(_) => return,
            Ok(Line::TooLong(size)) => (
                Vec::new(),
                vec![error(
                    None,
                    INVALID_REQUEST,
                    format!(
                        "Invalid Request: a message of {size} bytes, over the limit of {MAX_LINE}"
                    ),
                )],
            ),
            Ok(Line::Whole) => take(&line, &state),
        };
        if write(&out, &replies).await.is_err() {
            return;
        }
        for message in messages {
            if tx.send(message).await.is_err() {
                return;
            }
        }
    }
}

enum Line {
    Whole,
    TooLong(usize),
    Eof,
}

/// Reads one line into `line` (without its end), never holding more than
/// [`MAX_LINE`] bytes of it.
async fn read_line(input: &mut BufReader<Stdin>, line: &mut Vec<u8>) -> std::io::Result<Line> {
    line.clear();
    let mut size = 0usize;
    loop {
        let buf = input.fill_buf().await?;
        if buf.is_empty() {
            return Ok(match size {
                0 => Line::Eof,
                _ if size > MAX_LINE => Line::TooLong(size),
                _ => Line::Whole,
            });
        }
        let newline = buf.iter().position(|&b| b == b'\n');
        let part = &buf[..newline.unwrap_or(buf.len())];
        size += part.len();
        if size > MAX_LINE {
            line.clear();
            line.shrink_to(0);
        } else {
            line.extend_from_slice(part);
        }
        let used = newline.map_or(buf.len(), |at| at + 1);
        input.consume(used);
        if newline.is_some() {
            return Ok(if size > MAX_LINE {
                Line::TooLong(size)
            } else {
                Line::Whole
            });
        }
    }
}

/// Sorts one line into the messages for rmcp and the replies to send now.
fn take(line: &[u8], state: &Shared) -> (Vec<ClientJsonRpcMessage>, Vec<Value>) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return (Vec::new(), Vec::new());
    }
    // The common case: one good message, parsed once.
    if let Ok(message) = serde_json::from_slice::<ClientJsonRpcMessage>(line) {
        let replies = settle_cancelled(&message, state).into_iter().collect();
        return (vec![message], replies);
    }
    match serde_json::from_slice::<Value>(line) {
        Err(e) => (
            Vec::new(),
            vec![error(None, PARSE_ERROR, format!("Parse error: {e}"))],
        ),
        Ok(Value::Array(items)) => batch(items, state),
        Ok(value) => match message(value) {
            Ok(Some(message)) => {
                let replies = settle_cancelled(&message, state).into_iter().collect();
                (vec![message], replies)
            }
            Ok(None) => (Vec::new(), Vec::new()),
            Err(reply) => (Vec::new(), vec![reply]),
        },
    }
}

/// One JSON value as a message; `None` for a notification rmcp does not
/// know (ignored, as rmcp does); an error reply when it is no message.
fn message(value: Value) -> Result<Option<ClientJsonRpcMessage>, Value> {
    let id = value.get("id").cloned();
    let notification = id.is_none() && value.get("method").is_some_and(Value::is_string);
    match serde_json::from_value::<ClientJsonRpcMessage>(value) {
        Ok(message) => Ok(Some(message)),
        Err(_) if notification => Ok(None),
        Err(e) => Err(error(
            id.and_then(|id| serde_json::from_value::<RequestId>(id).ok()),
            INVALID_REQUEST,
            format!("Invalid Request: {e}"),
        )),
    }
}

/// A batch: taken under the versions that have batches, refused otherwise
/// with an error for each of its ids (or one without an id when it has none).
fn batch(items: Vec<Value>, state: &Shared) -> (Vec<ClientJsonRpcMessage>, Vec<Value>) {
    let mut st = lock(state);
    if items.is_empty() {
        return (
            Vec::new(),
            vec![error(
                None,
                INVALID_REQUEST,
                "Invalid Request: an empty batch".into(),
            )],
        );
    }
    if !st.takes_batches() {
        let why = match &st.version {
            Some(v) => format!(
                "Invalid Request: MCP protocol version {v} has no JSON-RPC batches (2025-06-18 removed them); send each message on its own line"
            ),
            None => "Invalid Request: JSON-RPC batches need protocol version 2025-03-26 or older, agreed by `initialize`; send each message on its own line".to_string(),
        };
        let ids: Vec<RequestId> = items
            .iter()
            .filter_map(|item| serde_json::from_value(item.get("id")?.clone()).ok())
            .collect();
        let replies = match ids.is_empty() {
            true => vec![error(None, INVALID_REQUEST, why)],
            false => ids
                .into_iter()
                .map(|id| error(Some(id), INVALID_REQUEST, why.clone()))
                .collect(),
        };
        return (Vec::new(), replies);
    }
    let mut messages = Vec::new();
    let mut replies = Vec::new();
    let mut ids: Vec<RequestId> = Vec::new();
    for item in items {
        let message = match message(item) {
            Ok(Some(message)) => message,
            Ok(None) => continue,
            Err(reply) => {
                replies.push(reply);
                continue;
            }
        };
        if let JsonRpcMessage::Request(request) = &message {
            let id = request.id.clone();
            if matches!(request.request, ClientRequest::InitializeRequest(_)) {
                let why = "Invalid Request: `initialize` must not be part of a JSON-RPC batch";
                replies.push(error(Some(id), INVALID_REQUEST, why.into()));
                continue;
            }
            if st.waiting.contains_key(&id) || ids.contains(&id) {
                let why = format!(
                    "Invalid Request: id {id} is already used by a request not answered yet"
                );
                replies.push(error(Some(id), INVALID_REQUEST, why));
                continue;
            }
            ids.push(id);
        }
        messages.push(message);
    }
    let mut out = Vec::new();
    if ids.is_empty() {
        // Nothing for rmcp to answer: the errors, if any, are the whole reply.
        if !replies.is_empty() {
            out.push(Value::Array(replies));
        }
    } else {
        let number = st.next_batch;
        st.next_batch += 1;
        for id in &ids {
            st.waiting.insert(id.clone(), number);
        }
        let pending = ids.len();
        st.batches.insert(number, Batch { replies, pending });
    }
    drop(st);
    out.extend(messages.iter().filter_map(|m| settle_cancelled(m, state)));
    (messages, out)
}

/// A cancelled request of a batch gets no answer (rmcp drops it), so its
/// batch stops waiting for one; returns the batch's array if that completed it.
fn settle_cancelled(message: &ClientJsonRpcMessage, state: &Shared) -> Option<Value> {
    if let JsonRpcMessage::Notification(n) = message
        && let ClientNotification::CancelledNotification(c) = &n.notification
        && let Some(id) = &c.params.request_id
    {
        return lock(state).answer(id, None);
    }
    None
}

/// A JSON-RPC error object, with `id: null` when there is no id to answer.
fn error(id: Option<RequestId>, code: i64, message: String) -> Value {
    let mut value =
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    bound(&mut value);
    value
}

/// Writes each value as one line.
async fn write(out: &Out, values: &[Value]) -> std::io::Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for value in values {
        text.push_str(&value.to_string());
        text.push('\n');
    }
    let mut out = out.lock().await;
    out.write_all(text.as_bytes()).await?;
    out.flush().await
}
