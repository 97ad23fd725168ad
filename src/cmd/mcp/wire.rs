//! The stdio line protocol under `shards mcp`, in front of rmcp.
//!
//! rmcp's own stdio transport drops a line that is not JSON, answers a batch
//! with one error without an id (so no id in it is ever answered), and sends
//! a bad value back whole in its errors. This transport reads stdin itself,
//! a line at a time (at most [`MAX_LINE`] bytes of it kept), has `jsonrpc`
//! sort each line into messages for rmcp and replies owed now, and writes
//! every reply as one line. Every error leaving the server quotes a long
//! value as a short prefix and its size. Good messages reach rmcp unchanged.

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Stdin, Stdout};
use tokio::sync::mpsc;

use super::jsonrpc::{INVALID_REQUEST, Shared, error, lock, take};

/// The longest line taken (as rmcp's own transport); a longer one is
/// answered with an error and skipped.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// The server's side of stdio, for `serve`.
pub struct Wire {
    incoming: mpsc::Receiver<ClientJsonRpcMessage>,
    out: Out,
    state: Shared,
}

type Out = Arc<tokio::sync::Mutex<Stdout>>;

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
