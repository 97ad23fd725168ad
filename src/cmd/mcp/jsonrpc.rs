//! What one line from an MCP client is under JSON-RPC 2.0, and the answers
//! owed for it: a line that is not JSON gets -32700 with `id: null`; a JSON
//! line that is no message gets -32600 under its own id when it has one; a
//! batch is taken under the protocol versions that have batches
//! (2024-11-05, 2025-03-26: its requests go to rmcp one by one and their
//! answers leave as one array) and refused from 2025-06-18 on, which
//! removed them, with an error for each of its ids. The state shared by
//! the reader and the writer (the agreed version, the batches still
//! waiting) lives here.
//!
//! Part of `cmd::mcp`: JSON values in, messages and replies out; reading
//! and writing stdio is `wire`'s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, JsonRpcMessage, ProtocolVersion,
    RequestId, ServerJsonRpcMessage, ServerResult,
};
use serde_json::{Value, json};

use super::clip::bound;

const PARSE_ERROR: i64 = -32700;
/// JSON-RPC's code for a message that is no valid request.
pub(super) const INVALID_REQUEST: i64 = -32600;

/// The [`State`], shared by the reader and the writer.
pub(super) type Shared = Arc<Mutex<State>>;

/// What the reader and the writer share: the negotiated version and the
/// batches whose answers are being gathered.
#[derive(Default)]
pub(super) struct State {
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

/// Locks the shared state; a panic elsewhere leaves it usable.
pub(super) fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// The line to write for an outgoing message, or none while its batch
    /// waits for other answers.
    pub(super) fn outgoing(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> serde_json::Result<Option<Value>> {
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

/// Sorts one line into the messages for rmcp and the replies to send now.
pub(super) fn take(line: &[u8], state: &Shared) -> (Vec<ClientJsonRpcMessage>, Vec<Value>) {
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
pub(super) fn error(id: Option<RequestId>, code: i64, message: String) -> Value {
    let mut value =
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    bound(&mut value);
    value
}
