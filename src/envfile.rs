//! The env file editor: renders shards' managed section and splices it into
//! whatever the user's file holds.
//!
//! shards owns the lines from the `# >>> shards >>>` marker to the
//! `# <<< shards <<<` marker and nothing else: every byte outside them comes
//! back unchanged (a final line without a newline gets one before a section
//! is appended after it), line endings follow the file (CRLF stays CRLF), and
//! applying the same section twice changes nothing. Pure: bytes in, bytes out.

/// The first line of the managed section (followed by an explanation).
pub const BEGIN: &str = "# >>> shards >>>";
/// The last line of the managed section.
pub const END: &str = "# <<< shards <<<";
const BEGIN_LINE: &str = "# >>> shards >>>  (managed by shards; edits inside are overwritten)";

/// The result of splicing a section into a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The new file content.
    pub bytes: Vec<u8>,
    /// Keys the user also sets outside the section, which would shadow or be
    /// shadowed by shards' values depending on the loader.
    pub shadowed: Vec<String>,
    /// Where the section's last line (`# <<< shards <<<`) starts in
    /// `bytes`: blank lines put there stay inside the section.
    pub end_at: usize,
}

/// Where the managed section sits in a file, as line indexes.
struct Section {
    begin: usize,
    end: usize,
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn find_section(lines: &[&[u8]]) -> Result<Option<Section>, String> {
    let is = |line: &[u8], marker: &str| strip_eol(line).starts_with(marker.as_bytes());
    let begins: Vec<usize> = (0..lines.len()).filter(|&i| is(lines[i], BEGIN)).collect();
    let ends: Vec<usize> = (0..lines.len()).filter(|&i| is(lines[i], END)).collect();
    match (begins.as_slice(), ends.as_slice()) {
        ([], []) => Ok(None),
        ([b], [e]) if b < e => Ok(Some(Section { begin: *b, end: *e })),
        ([_], []) => Err(format!(
            "the managed section has `{BEGIN}` but no `{END}` line"
        )),
        ([], [_]) => Err(format!(
            "the managed section has `{END}` but no `{BEGIN}` line"
        )),
        _ => Err("the managed section markers are repeated or out of order".to_string()),
    }
}

/// Returns the key a line sets, if any, in every spelling one of the
/// loaders reads: `KEY=value`, `export KEY=value` (any blanks after
/// `export`), `'KEY'=value` (python-dotenv, compose) and `KEY: value`
/// (direnv), with blanks around the key.
fn key_of(line: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(strip_eol(line)).ok()?.trim_start();
    let text = match text.strip_prefix("export") {
        Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
        _ => text,
    };
    let end = text.find(['=', ':'])?;
    let key = text[..end].trim_end();
    let key = key
        .strip_prefix('\'')
        .and_then(|k| k.strip_suffix('\''))
        .unwrap_or(key);
    let valid = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    valid.then_some(key)
}

/// Renders the managed section with `eol` line endings.
pub fn render_section(vars: &[(String, String)], eol: &str) -> String {
    let mut out = String::new();
    out.push_str(BEGIN_LINE);
    out.push_str(eol);
    for (key, value) in vars {
        out.push_str(key);
        out.push('=');
        out.push_str(value);
        out.push_str(eol);
    }
    out.push_str(END);
    out.push_str(eol);
    out
}

/// Splices the section holding `vars` into `existing`, replacing an earlier
/// section or appending one.
///
/// Fails, changing nothing, when the markers are damaged (one without the
/// other, repeated, or out of order).
pub fn apply(existing: &[u8], vars: &[(String, String)]) -> Result<Applied, String> {
    let lines: Vec<&[u8]> = existing.split_inclusive(|&b| b == b'\n').collect();
    let section = find_section(&lines)?;
    let eol = if existing.windows(2).any(|w| w == b"\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let rendered = render_section(vars, eol);
    let (before, after): (&[&[u8]], &[&[u8]]) = match &section {
        Some(s) => (&lines[..s.begin], &lines[s.end + 1..]),
        None => (&lines, &[]),
    };
    let mut bytes = Vec::with_capacity(existing.len() + rendered.len() + 2);
    for line in before {
        bytes.extend_from_slice(line);
    }
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        bytes.extend_from_slice(eol.as_bytes());
    }
    bytes.extend_from_slice(rendered.as_bytes());
    let end_at = bytes.len() - END.len() - eol.len();
    for line in after {
        bytes.extend_from_slice(line);
    }
    let mut shadowed: Vec<String> = before
        .iter()
        .chain(after)
        .filter_map(|l| key_of(l))
        .filter(|k| vars.iter().any(|(v, _)| v == k))
        .map(str::to_string)
        .collect();
    shadowed.dedup();
    Ok(Applied {
        bytes,
        shadowed,
        end_at,
    })
}

/// Returns how many non-blank lines of `existing` lie outside the managed
/// section: lines shards did not write. With damaged markers every
/// non-blank line counts, since shards cannot tell which are its own.
pub fn user_lines(existing: &[u8]) -> usize {
    user_lines_beyond(existing, &[])
}

/// The indexes of the lines of the managed section, markers included;
/// empty when there is none or its markers are damaged.
fn section_lines(lines: &[&[u8]]) -> std::ops::Range<usize> {
    match find_section(lines) {
        Ok(Some(s)) => s.begin..s.end + 1,
        _ => 0..0,
    }
}

/// The prefix [`disown`] puts before a line whose key the shard sets itself.
pub const DISOWNED: &str = "# shards: overridden by the shards section: ";

/// Comments out (with the [`DISOWNED`] prefix) every line outside the
/// managed section that sets one of `keys`, so that no loader can read a
/// value other than the section's, whichever of two duplicates it keeps.
/// Returns the new bytes and the keys it disowned; every other byte stays.
pub fn disown(existing: &[u8], keys: &[&str]) -> (Vec<u8>, Vec<String>) {
    let lines: Vec<&[u8]> = existing.split_inclusive(|&b| b == b'\n').collect();
    let inside = section_lines(&lines);
    let mut bytes = Vec::with_capacity(existing.len() + 64);
    let mut disowned: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let key = key_of(line).filter(|k| !inside.contains(&i) && keys.contains(k));
        if let Some(key) = key {
            bytes.extend_from_slice(DISOWNED.as_bytes());
            if !disowned.iter().any(|d| d == key) {
                disowned.push(key.to_string());
            }
        }
        bytes.extend_from_slice(line);
    }
    (bytes, disowned)
}

/// Returns how many lines [`user_lines`] counts in `existing` that `base`
/// does not hold, as they are or as [`disown`] left them: the lines added
/// since the file was copied from `base`. `base` may itself be the copy as
/// [`disown`] left it.
pub fn user_lines_beyond(existing: &[u8], base: &[u8]) -> usize {
    let known: std::collections::HashSet<&[u8]> = base
        .split_inclusive(|&b| b == b'\n')
        .map(strip_eol)
        .collect();
    let lines: Vec<&[u8]> = existing.split_inclusive(|&b| b == b'\n').collect();
    let inside = section_lines(&lines);
    (0..lines.len())
        .filter(|i| !inside.contains(i))
        .filter(|&i| !lines[i].iter().all(u8::is_ascii_whitespace))
        .filter(|&i| {
            let line = strip_eol(lines[i]);
            let original = line.strip_prefix(DISOWNED.as_bytes()).unwrap_or(line);
            !known.contains(line) && !known.contains(original)
        })
        .count()
}

/// Returns the `KEY=value` pairs inside the managed section, if there is one.
pub fn read_section(existing: &[u8]) -> Option<Vec<(String, String)>> {
    let lines: Vec<&[u8]> = existing.split_inclusive(|&b| b == b'\n').collect();
    let s = find_section(&lines).ok()??;
    let pairs = lines[s.begin + 1..s.end]
        .iter()
        .filter_map(|l| {
            let text = std::str::from_utf8(strip_eol(l)).ok()?;
            let (k, v) = text.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect();
    Some(pairs)
}

/// Quotes `value` for POSIX shells: single quotes, with `'` as `'\''`.
pub fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Quotes `value` for fish: single quotes, with `\` and `'` escaped.
pub fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_lines_are_those_outside_the_section() {
        let section = render_section(&[("PORT".into(), "3000".into())], "\n");
        assert_eq!(user_lines(section.as_bytes()), 0);
        assert_eq!(user_lines(b""), 0);
        assert_eq!(user_lines(format!("\n{section}\n  \n").as_bytes()), 0);
        let user = format!("SECRET=1\n{section}# note\r\nTAIL=2");
        assert_eq!(user_lines(user.as_bytes()), 3);
        // Damaged markers: nothing can be told apart, everything counts.
        assert_eq!(user_lines(format!("{BEGIN}\nPORT=1\n").as_bytes()), 2);
    }

    #[test]
    fn disown_comments_out_only_the_shards_keys_outside_the_section() {
        let section = render_section(&[("PORT".into(), "3100".into())], "\n");
        let text = format!("A=1\nPORT=3000\r\nexport PORT = 1\n{section}PORTS=2\n");
        let (bytes, keys) = disown(text.as_bytes(), &["PORT"]);
        let out = String::from_utf8(bytes).unwrap();
        assert_eq!(keys, vec!["PORT".to_string()]);
        assert_eq!(
            out,
            format!("A=1\n{DISOWNED}PORT=3000\r\n{DISOWNED}export PORT = 1\n{section}PORTS=2\n")
        );
        assert_eq!(disown(out.as_bytes(), &["PORT"]).1, Vec::<String>::new());
        // The lines of the copied file are not new; a line added is.
        assert_eq!(user_lines_beyond(out.as_bytes(), text.as_bytes()), 0);
        let added = format!("{out}NEW=1\n");
        assert_eq!(user_lines_beyond(added.as_bytes(), text.as_bytes()), 1);
        // Judged against the copy as disown left it (what create records).
        assert_eq!(user_lines_beyond(out.as_bytes(), out.as_bytes()), 0);
        assert_eq!(user_lines_beyond(added.as_bytes(), out.as_bytes()), 1);
    }

    #[test]
    fn quoting_survives_hostile_values() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's $HOME `x`"), r"'it'\''s $HOME `x`'");
        assert_eq!(fish_quote(r"a\'b"), r"'a\\\'b'");
    }

    fn vars() -> Vec<(String, String)> {
        vec![
            ("PORT_RANGE_START".into(), "3100".into()),
            ("PORT".into(), "3100".into()),
        ]
    }

    #[test]
    fn appends_to_an_empty_file() {
        let out = apply(b"", &vars()).unwrap();
        let text = String::from_utf8(out.bytes).unwrap();
        assert!(text.starts_with(BEGIN));
        assert!(text.contains("\nPORT_RANGE_START=3100\nPORT=3100\n"));
        assert!(text.ends_with("# <<< shards <<<\n"));
    }

    #[test]
    fn keeps_user_lines_and_terminates_the_last_one() {
        let user = b"SECRET=abc\n# comment\nLAST=1";
        let out = apply(user, &vars()).unwrap();
        assert!(
            out.bytes
                .starts_with(b"SECRET=abc\n# comment\nLAST=1\n# >>> shards")
        );
    }

    #[test]
    fn replaces_a_section_in_the_middle_and_keeps_crlf() {
        let user = b"A=1\r\n# >>> shards >>>\r\nPORT=1\r\n# <<< shards <<<\r\nB=2\r\n";
        let out = apply(user, &vars()).unwrap();
        let text = String::from_utf8(out.bytes).unwrap();
        assert!(text.starts_with("A=1\r\n# >>> shards >>>"));
        assert!(text.ends_with("# <<< shards <<<\r\nB=2\r\n"));
        assert!(text.contains("PORT=3100\r\n"));
        assert!(!text.contains("PORT=1\r\n"));
    }

    #[test]
    fn blank_lines_at_the_end_marker_stay_inside_the_section() {
        let out = apply(b"A=1\r\n", &vars()).unwrap();
        assert!(out.bytes[out.end_at..].starts_with(END.as_bytes()));
        let mut padded = out.bytes.clone();
        padded.splice(out.end_at..out.end_at, *b"\n\n");
        assert_eq!(user_lines(&padded), 1);
        assert_eq!(read_section(&padded), Some(vars()));
        assert_eq!(apply(&padded, &vars()).unwrap().bytes, out.bytes);
    }

    #[test]
    fn applying_twice_is_a_no_op() {
        let once = apply(b"X=1\n", &vars()).unwrap().bytes;
        let twice = apply(&once, &vars()).unwrap().bytes;
        assert_eq!(once, twice);
    }

    #[test]
    fn damaged_markers_are_refused() {
        assert!(apply(b"# >>> shards >>>\nPORT=1\n", &vars()).is_err());
        assert!(apply(b"# <<< shards <<<\n# >>> shards >>>\n", &vars()).is_err());
    }

    #[test]
    fn warns_about_user_keys_that_shadow() {
        let out = apply(b"export PORT=8080\nOTHER=1\n", &vars()).unwrap();
        assert_eq!(out.shadowed, vec!["PORT".to_string()]);
    }

    #[test]
    fn binary_content_survives() {
        let user = [0xff, 0x00, b'\n', 0xfe];
        let out = apply(&user, &vars()).unwrap();
        assert_eq!(&out.bytes[..4], &[0xff, 0x00, b'\n', 0xfe]);
    }

    #[test]
    fn reads_back_the_section() {
        let out = apply(b"A=1\n", &vars()).unwrap();
        assert_eq!(read_section(&out.bytes), Some(vars()));
        assert_eq!(read_section(b"A=1\n"), None);
    }
}
