//! Output: the only writer of stdout. Reports render as a table (or plain
//! lines) for people and as versioned JSON for scripts, from the same struct.
//!
//! Command layer: knows reports and formats, nothing of git or SQLite.

use std::io::{self, IsTerminal, Write};
use std::path::Path;

use serde::Serialize;

use crate::error::Error;

/// The JSON schema version printed as `"version"` in every JSON document.
pub const JSON_VERSION: u32 = 1;

/// How data is printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Tables and sentences for people.
    Human,
    /// One JSON document for scripts.
    Json,
}

/// Styling choices for human output.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Use ANSI colour and bold.
    pub color: bool,
}

impl Style {
    /// Decides colour: only on a terminal, and never under `NO_COLOR`.
    pub fn detect(no_color: bool) -> Style {
        Style {
            color: !no_color && io::stdout().is_terminal(),
        }
    }

    /// Wraps `text` in an ANSI SGR code when colour is on.
    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// What human rendering needs besides the report: styling, the user's
/// home (to shorten paths), and options of the command that shape its
/// table (`list --all`, `env --format`).
pub struct RenderCtx<'a, O = ()> {
    /// Colour or not.
    pub style: Style,
    /// The user's home folder, for `~/…` paths.
    pub user_home: Option<&'a Path>,
    /// The command's own presentation options.
    pub opts: O,
}

impl<O> RenderCtx<'_, O> {
    /// Shortens `path` for people: `~/…` under the user's home.
    pub fn path(&self, path: &Path) -> String {
        if let Some(home) = self.user_home
            && let Ok(rest) = path.strip_prefix(home)
        {
            return format!("~/{}", rest.display());
        }
        path.display().to_string()
    }
}

/// A command's result: pure data, printable for people and as JSON.
pub trait Render<O = ()>: Serialize {
    /// Writes the human form to stdout (`w`).
    fn render(&self, w: &mut dyn Write, cx: &RenderCtx<'_, O>) -> io::Result<()>;

    /// Returns status sentences for stderr ("Created shard …").
    fn notes(&self, _cx: &RenderCtx<'_, O>) -> Vec<String> {
        Vec::new()
    }

    /// Returns warnings for stderr, shown even under `--quiet`.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

#[derive(Serialize)]
struct Versioned<'a, T: Serialize> {
    version: u32,
    #[serde(flatten)]
    inner: &'a T,
}

fn ok_on_broken_pipe(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Prints `value` as one JSON document with `"version"` first; a closed
/// stdout (broken pipe) counts as success.
pub fn print_json<T: Serialize>(value: &T) -> io::Result<()> {
    let doc = Versioned {
        version: JSON_VERSION,
        inner: value,
    };
    let mut out = io::stdout().lock();
    ok_on_broken_pipe(
        serde_json::to_writer_pretty(&mut out, &doc)
            .map_err(io::Error::other)
            .and_then(|_| writeln!(out)),
    )
}

/// Prints one status line on stderr (a hook step being run).
pub fn note(line: &str) {
    eprintln!("{line}");
}

/// Prints a report: data to stdout, notes and warnings to stderr.
pub fn emit<O, R: Render<O>>(
    report: &R,
    format: Format,
    quiet: bool,
    cx: &RenderCtx<'_, O>,
) -> io::Result<()> {
    for w in report.warnings() {
        eprintln!("warning: {w}");
    }
    if !quiet {
        for n in report.notes(cx) {
            eprintln!("{n}");
        }
    }
    match format {
        Format::Json => print_json(report),
        Format::Human => {
            let mut out = io::stdout().lock();
            ok_on_broken_pipe(report.render(&mut out, cx).and_then(|_| out.flush()))
        }
    }
}

#[derive(Serialize)]
struct ErrorDoc<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    kind: &'a str,
    message: String,
    hint: Option<String>,
    exit_code: i32,
}

/// Returns an error as people read it: the message, then one `caused by:`
/// line per source, then the `hint:` line. The CLI and the MCP server both
/// print this text.
pub fn error_text(err: &Error) -> String {
    let mut text = err.to_string();
    let mut last = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        // SQLite's errors wrap their own code ("Error code 26: file is not
        // a database" under "file is not a database"): say a cause once.
        let line = s.to_string();
        if last.is_empty() || !line.ends_with(last.as_str()) {
            text.push_str(&format!("\ncaused by: {line}"));
        }
        last = line;
        source = s.source();
    }
    if let Some(hint) = err.hint() {
        text.push_str(&format!("\nhint: {hint}"));
    }
    text
}

/// Prints an error on stderr (with its causes and hint), and under `--json`
/// also as a JSON document on stdout.
pub fn print_error(err: &Error, format: Format) {
    eprintln!("shards: error: {}", error_text(err));
    if format == Format::Json {
        print_error_json(err);
    }
}

/// Prints an error as a JSON document on stdout only: `{"version", "error":
/// {"kind", "message", "hint", "exit_code"}}`.
pub fn print_error_json(err: &Error) {
    let doc = ErrorDoc {
        error: ErrorBody {
            kind: err.kind(),
            message: err.to_string(),
            hint: err.hint(),
            exit_code: err.exit_code(),
        },
    };
    let _ = print_json(&doc);
}

/// A plain text table with a header row and left-aligned columns.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Starts a table with these column headers.
    pub fn new(headers: Vec<&'static str>) -> Table {
        Table {
            headers,
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have one cell per header.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the table, padding every column but the last.
    pub fn write(&self, w: &mut dyn Write, style: Style) -> io::Result<()> {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(n) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: Vec<String>| {
            let mut s = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i + 1 < n {
                    s.push_str(&format!("{cell:<w$}  ", w = widths[i]));
                } else {
                    s.push_str(cell);
                }
            }
            s.trim_end().to_string()
        };
        let header = line(self.headers.iter().map(|h| h.to_string()).collect());
        writeln!(w, "{}", style.paint("1", &header))?;
        for row in &self.rows {
            writeln!(w, "{}", line(row.clone()))?;
        }
        Ok(())
    }
}
