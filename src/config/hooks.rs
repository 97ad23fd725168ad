//! Hooks as configured: `[hooks]` `setup`, `start` and `teardown`, each a
//! command or a list of steps (`"cmd"` or `{ run = "cmd", optional = true }`),
//! with the file each came from, and the hash a user's approval of a
//! repository's hooks (`shards trust`) is keyed on.
//!
//! Pure core: TOML values in, checked hooks out; no file system, no
//! environment, no processes (running them is `shard::hooks`).

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// One step of a hook: a command for `sh -c`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Step {
    /// The command line, run with `sh -c` in the worktree.
    pub run: String,
    /// A failing optional step is a warning, not a failure.
    pub optional: bool,
}

/// One hook (`setup`, `start` or `teardown`) and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// Its steps, in order.
    pub steps: Vec<Step>,
    /// Where it was set (`file:line`).
    pub origin: String,
    /// True when a repository's `.shards.toml` set it: it runs only once
    /// the user approved it (`shards trust`).
    pub project: bool,
}

/// The three hooks of the effective configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    /// Runs in `create` after the env file is written, before the shard is active.
    pub setup: Option<Hook>,
    /// Runs in the background once the shard is active.
    pub start: Option<Hook>,
    /// Runs in `destroy` and `prune` before the worktree is removed.
    pub teardown: Option<Hook>,
}

/// The names of the hooks, in the order they run in a shard's life.
pub const HOOK_NAMES: [&str; 3] = ["setup", "start", "teardown"];

impl Hooks {
    /// Returns the hook called `name` (one of [`HOOK_NAMES`]).
    pub fn get(&self, name: &str) -> Option<&Hook> {
        match name {
            "setup" => self.setup.as_ref(),
            "start" => self.start.as_ref(),
            "teardown" => self.teardown.as_ref(),
            _ => None,
        }
    }

    /// Returns the hooks a repository's file set, by name, in run order.
    pub fn project(&self) -> Vec<(&'static str, &Hook)> {
        HOOK_NAMES
            .iter()
            .filter_map(|n| self.get(n).filter(|h| h.project).map(|h| (*n, h)))
            .collect()
    }

    /// Returns the SHA-256 (hex) of the project hooks' names and commands,
    /// the key of a user's approval, or `None` when the repository's file
    /// sets no hook. Any change to a command, its `optional` flag or which
    /// hook holds it changes the hash.
    pub fn project_hash(&self) -> Option<String> {
        let project = self.project();
        if project.is_empty() {
            return None;
        }
        let mut h = Sha256::new();
        h.update(b"shards-hooks-v1\0");
        for (name, hook) in project {
            // Lengths before contents, so no two lists hash alike.
            h.update(format!("{name}\0{}\0", hook.steps.len()).as_bytes());
            for step in &hook.steps {
                h.update(format!("{}\0{}\0", step.optional, step.run.len()).as_bytes());
                h.update(step.run.as_bytes());
            }
        }
        Some(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// Reads `hooks.<name>` as written: a string, or a list of strings and
/// `{ run, optional }` tables. `origin` is its `file:line`.
pub fn hook_from(name: &str, value: &toml::Value, origin: &str, project: bool) -> Result<Hook> {
    let bad = |message: String| Error::Config {
        origin: origin.to_string(),
        message: format!("`hooks.{name}`: {message}"),
    };
    let step = |v: &toml::Value| -> Result<Step> {
        let step = match v {
            toml::Value::String(s) => Step {
                run: s.clone(),
                optional: false,
            },
            toml::Value::Table(t) => {
                if let Some(key) = t.keys().find(|k| *k != "run" && *k != "optional") {
                    return Err(bad(format!(
                        "unknown key `{key}` in a step (a step has `run` and `optional`)"
                    )));
                }
                let run = match t.get("run") {
                    Some(toml::Value::String(s)) => s.clone(),
                    Some(_) => return Err(bad("`run` must be a string".into())),
                    None => return Err(bad("a step table needs `run = \"…\"`".into())),
                };
                let optional = match t.get("optional") {
                    None => false,
                    Some(toml::Value::Boolean(b)) => *b,
                    Some(_) => return Err(bad("`optional` must be true or false".into())),
                };
                Step { run, optional }
            }
            _ => {
                return Err(bad(
                    "a step is a command string or a table `{ run = \"…\", optional = true }`"
                        .into(),
                ));
            }
        };
        if step.run.trim().is_empty() {
            return Err(bad("a step's command must not be empty".into()));
        }
        if step.run.contains('\0') {
            return Err(bad("a command must not contain a NUL character".into()));
        }
        Ok(step)
    };
    let steps = match value {
        toml::Value::Array(items) => items.iter().map(step).collect::<Result<Vec<_>>>()?,
        toml::Value::String(_) => vec![step(value)?],
        _ => {
            return Err(bad(
                "expected a command string or a list of steps (strings or `{ run = \"…\", optional = true }`)"
                    .into(),
            ));
        }
    };
    if steps.is_empty() {
        return Err(bad(
            "a list of steps must not be empty (remove the key to have no hook)".into(),
        ));
    }
    Ok(Hook {
        steps,
        origin: origin.to_string(),
        project,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> toml::Value {
        toml::from_str::<toml::Table>(&format!("v = {text}")).unwrap()["v"].clone()
    }

    fn hooks(setup: &str, project: bool) -> Hooks {
        Hooks {
            setup: Some(hook_from("setup", &value(setup), "f:1", project).unwrap()),
            ..Hooks::default()
        }
    }

    #[test]
    fn reads_a_string_and_a_list_of_steps() {
        let h = hook_from("setup", &value(r#""npm ci""#), "f:1", true).unwrap();
        assert_eq!(
            h.steps,
            vec![Step {
                run: "npm ci".into(),
                optional: false
            }]
        );
        let h = hook_from(
            "setup",
            &value(r#"["a", { run = "b", optional = true }, { run = "c" }]"#),
            "f:2",
            false,
        )
        .unwrap();
        let got: Vec<(&str, bool)> = h
            .steps
            .iter()
            .map(|s| (s.run.as_str(), s.optional))
            .collect();
        assert_eq!(got, vec![("a", false), ("b", true), ("c", false)]);
        assert_eq!(h.origin, "f:2");
    }

    #[test]
    fn refuses_bad_shapes_naming_the_key() {
        for (text, want) in [
            ("3", "expected a command string or a list"),
            ("[]", "must not be empty"),
            (r#"[""]"#, "must not be empty"),
            ("[1]", "a step is a command string or a table"),
            (r#"[{ optional = true }]"#, "needs `run"),
            (
                r#"[{ run = "x", optional = "yes" }]"#,
                "`optional` must be true or false",
            ),
            (r#"[{ run = "x", when = "always" }]"#, "unknown key `when`"),
        ] {
            let err = hook_from("setup", &value(text), "f:7", true)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("f:7") && err.contains("`hooks.setup`"),
                "{text}: {err}"
            );
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn later_layers_win_per_hook_and_each_keeps_its_file() {
        use crate::config::{Overrides, parse, resolve};
        let user = parse(
            "/home/u/config.toml",
            "[hooks]\nsetup = \"make\"\nteardown = \"docker compose down\"\n",
        )
        .unwrap();
        let project = parse("/r/.shards.toml", "\n[hooks]\nsetup = [\"npm ci\"]\n")
            .unwrap()
            .into_project();
        let config = resolve(32767, &[user, project], &Overrides::default()).unwrap();
        let setup = config.hooks.setup.as_ref().unwrap();
        assert_eq!(
            (setup.steps[0].run.as_str(), setup.project),
            ("npm ci", true)
        );
        assert_eq!(setup.origin, "/r/.shards.toml:3");
        let teardown = config.hooks.teardown.as_ref().unwrap();
        assert_eq!(
            (teardown.project, teardown.origin.as_str()),
            (false, "/home/u/config.toml:3")
        );
        assert_eq!(config.hooks.start, None);
        assert_eq!(config.hooks.project().len(), 1);
        // An unknown hook is an unknown key, with its file and line.
        let err = parse("/r/.shards.toml", "[hooks]\nbuild = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/r/.shards.toml:2") && err.contains("`build`"),
            "{err}"
        );
    }

    #[test]
    fn the_hash_follows_the_project_commands_only() {
        let a = hooks(r#""npm ci""#, true);
        assert_eq!(
            a.project_hash(),
            hooks(r#"["npm ci"]"#, true).project_hash()
        );
        assert_ne!(a.project_hash(), hooks(r#""npm  ci""#, true).project_hash());
        assert_ne!(
            a.project_hash(),
            hooks(r#"[{ run = "npm ci", optional = true }]"#, true).project_hash()
        );
        assert_ne!(
            a.project_hash(),
            hooks(r#"["npm", "ci"]"#, true).project_hash()
        );
        // The same command as another hook is another approval.
        let moved = Hooks {
            teardown: a.setup.clone(),
            ..Hooks::default()
        };
        assert_ne!(a.project_hash(), moved.project_hash());
        // The user's own hooks need no approval.
        assert_eq!(hooks(r#""npm ci""#, false).project_hash(), None);
        assert_eq!(Hooks::default().project_hash(), None);
        assert_eq!(a.project_hash().unwrap().len(), 64);
    }
}
