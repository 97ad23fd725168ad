//! Error texts bounded for an agent's context: every error leaving the MCP
//! server has its long values (quoted runs, bare words such as paths) cut
//! to a short prefix and their size, and the whole text capped. Pure text
//! work on JSON values; the transport in `wire` calls [`bound`].

use serde_json::Value;

use crate::quote::{QUOTE_CHARS, clip, clip_to};

/// The longest text an error carries after its quoted values are clipped.
const MAX_TEXT: usize = 4096;

/// Clips the texts of an error (a JSON-RPC error or a tool's `isError`
/// result) and gives an error without an id `id: null`, as JSON-RPC 2.0 says.
pub(super) fn bound(value: &mut Value) {
    let Some(object) = value.as_object_mut() else {
        return;
    };
    if let Some(error) = object.get_mut("error") {
        clip_strings(error);
        object.entry("id").or_insert(Value::Null);
    } else if let Some(result) = object.get_mut("result")
        && result.get("isError") == Some(&Value::Bool(true))
    {
        clip_strings(result);
    }
}

fn clip_strings(value: &mut Value) {
    match value {
        Value::String(s) if s.len() > QUOTE_CHARS => {
            let clipped = clip_words(&clip_quoted(s));
            *s = clip_to(&clipped, MAX_TEXT).into_owned();
        }
        Value::Array(items) => items.iter_mut().for_each(clip_strings),
        Value::Object(map) => map.values_mut().for_each(clip_strings),
        _ => {}
    }
}

/// `text` with each long run between `"…"` or `` `…` `` clipped. Runs up to
/// twice [`QUOTE_CHARS`] stay whole, so a value the error already clipped
/// keeps its size note.
fn clip_quoted(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest.as_bytes()[open];
        out.push_str(&rest[..=open]);
        let body = &rest[open + 1..];
        let end = closing(body.as_bytes(), quote).unwrap_or(body.len());
        let run = &body[..end];
        if run.len() > 2 * QUOTE_CHARS {
            out.push_str(&clip(run));
        } else {
            out.push_str(run);
        }
        rest = &body[end..];
        if let Some(after) = rest.get(1..) {
            out.push(char::from(quote));
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `text` with each long word (a run without white space, as a path or a
/// method name quoted bare) clipped; words up to twice [`QUOTE_CHARS`] stay.
fn clip_words(text: &str) -> String {
    let mut out = String::new();
    let mut word = 0;
    for (at, c) in text.char_indices().chain([(text.len(), ' ')]) {
        if c.is_whitespace() {
            let run = &text[word..at];
            // A colon or comma after the value is the message's, not the value's.
            let value = run.trim_end_matches([':', ',', ';']);
            if value.len() > 2 * QUOTE_CHARS {
                out.push_str(&clip(value));
                out.push_str(&run[value.len()..]);
            } else {
                out.push_str(run);
            }
            if at < text.len() {
                out.push(c);
            }
            word = at + c.len_utf8();
        }
    }
    out
}

/// Where the run opened by `quote` ends; a `"` run skips `\` escapes.
fn closing(body: &[u8], quote: u8) -> Option<usize> {
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\\' if quote == b'"' => i += 2,
            b if b == quote => return Some(i),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn long_quoted_runs_are_clipped_and_short_ones_kept() {
        let long = "a".repeat(1000);
        let text = format!(r#"invalid type: string "{long}", expected a sequence"#);
        assert_eq!(
            clip_quoted(&text),
            format!(
                r#"invalid type: string "{}… (1000 bytes)", expected a sequence"#,
                "a".repeat(80)
            )
        );
        let escaped = format!(r#"x "{}\"{long}" y `z`"#, "b");
        assert!(clip_quoted(&escaped).ends_with(r#"… (1003 bytes)" y `z`"#));
        let already = format!("name `{}` bad", clip(&long));
        assert_eq!(clip_quoted(&already), already);
        assert_eq!(clip_quoted("unclosed `abc"), "unclosed `abc");
    }

    #[test]
    fn long_words_are_clipped_and_the_rest_kept() {
        let path = format!("/{}", "r".repeat(999));
        assert_eq!(
            clip_words(&format!("error (io): {path}: not found\nhint: x")),
            format!(
                "error (io): /{}… (1000 bytes): not found\nhint: x",
                "r".repeat(79)
            )
        );
        assert_eq!(clip_words(" a  b\t"), " a  b\t");
    }

    #[test]
    fn an_error_without_an_id_gets_id_null() {
        let mut v = json!({"jsonrpc":"2.0","error":{"code":-32600,"message":"m"}});
        bound(&mut v);
        assert_eq!(v["id"], Value::Null);
        assert!(v.as_object().unwrap().contains_key("id"));
    }
}
