//! Where things live: `SHARDS_HOME`, the XDG folders, the config file, and
//! every other environment variable shards reads.
//!
//! This is the only module that reads the process environment (with `cli`,
//! which reads argv). Everything else receives an [`Env`] value.

use std::path::PathBuf;

use crate::config::{ENV_KEYS, Overrides};

/// Overrides the home folder (ledger and default worktree root).
pub const SHARDS_HOME: &str = "SHARDS_HOME";
/// Overrides the user configuration file.
pub const SHARDS_CONFIG: &str = "SHARDS_CONFIG";
/// Test-only: makes `create`/`destroy` kill themselves at a named step.
pub const SHARDS_TEST_CRASH_AT: &str = "SHARDS_TEST_CRASH_AT";
/// Set by shards for the `git worktree add` it runs: the repository lock it
/// holds meanwhile, so a `shards` started by git's hooks (a post-checkout
/// hook that creates another shard) does not wait for it forever.
pub const SHARDS_HELD_REPO_LOCK: &str = "SHARDS_HELD_REPO_LOCK";
/// The folder of the host's block register, which every shards home on
/// the host must share (default `/var/tmp/shards-register`).
pub const SHARDS_REGISTER: &str = "SHARDS_REGISTER";
/// Test-only: the ledger's busy timeout in milliseconds, so a test of a
/// ledger locked "for longer than the timeout" need not wait 30 seconds.
pub const SHARDS_TEST_BUSY_TIMEOUT_MS: &str = "SHARDS_TEST_BUSY_TIMEOUT_MS";
/// Test-only: `create` starts no background spare filler (a test that
/// counts spares, or ends before a filler would, sets it).
pub const SHARDS_TEST_NO_FILLER: &str = "SHARDS_TEST_NO_FILLER";

/// Set by the shell function of `shards init` for the runs it handles
/// (`shards cd`, `create --cd`): the shell will change its directory to the
/// path printed on stdout.
pub const SHARDS_SHELL_FUNCTION: &str = "SHARDS_SHELL_FUNCTION";

/// What the process environment says about locations and settings.
#[derive(Debug, Clone)]
pub struct Env {
    /// The shards home: ledger and default worktrees.
    pub home: PathBuf,
    /// The user's home folder, for `~` in paths.
    pub user_home: Option<PathBuf>,
    /// The user configuration file.
    pub config_file: PathBuf,
    /// True when the config file was named by `SHARDS_CONFIG`, so a missing
    /// file is an error rather than "no user settings".
    pub config_explicit: bool,
    /// Settings from `SHARDS_*` variables.
    pub overrides: Overrides,
    /// `NO_COLOR` is set to a non-empty value.
    pub no_color: bool,
    /// The test-only crash point, if switched on.
    pub crash_at: Option<String>,
    /// The repository lock a parent shards holds (see [`SHARDS_HELD_REPO_LOCK`]).
    pub held_repo_lock: Option<PathBuf>,
    /// How long to wait for another process's ledger lock, when a test sets it.
    pub busy_timeout: Option<std::time::Duration>,
    /// The shell function of `shards init` runs this process (see
    /// [`SHARDS_SHELL_FUNCTION`]).
    pub shell_function: bool,
    /// The host's block register folder (see [`SHARDS_REGISTER`]).
    pub register: PathBuf,
    /// This program, as the kernel names it: what starts the background
    /// spare filler (`None` when it cannot be found).
    pub exe: Option<PathBuf>,
    /// `create` starts no background filler (see [`SHARDS_TEST_NO_FILLER`]).
    pub no_filler: bool,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn var_path(name: &str) -> Option<PathBuf> {
    var(name).map(PathBuf::from).filter(|p| p.is_absolute())
}

impl Env {
    /// Reads the process environment. A relative `SHARDS_HOME` is an error
    /// rather than silently ignored.
    pub fn from_process() -> Result<Env, crate::error::Error> {
        if let Some(home) = var(SHARDS_HOME).filter(|h| !std::path::Path::new(h).is_absolute()) {
            return Err(crate::error::Error::Config {
                origin: SHARDS_HOME.into(),
                message: format!("must be an absolute path, not {home:?}"),
            });
        }
        if let Some(dir) = var(SHARDS_REGISTER).filter(|d| !std::path::Path::new(d).is_absolute()) {
            return Err(crate::error::Error::Config {
                origin: SHARDS_REGISTER.into(),
                message: format!("must be an absolute path, not {dir:?}"),
            });
        }
        let user_home = var_path("HOME");
        let home_or = |rel: &str| {
            user_home
                .as_ref()
                .map(|h| h.join(rel))
                .unwrap_or_else(|| PathBuf::from("/tmp").join(rel))
        };
        let home = var_path(SHARDS_HOME).unwrap_or_else(|| {
            var_path("XDG_DATA_HOME")
                .map(|d| d.join("shards"))
                .unwrap_or_else(|| home_or(".local/share/shards"))
        });
        let (config_file, config_explicit) = match var(SHARDS_CONFIG) {
            Some(p) => (PathBuf::from(p), true),
            None => (
                var_path("XDG_CONFIG_HOME")
                    .map(|d| d.join("shards"))
                    .unwrap_or_else(|| home_or(".config/shards"))
                    .join("config.toml"),
                false,
            ),
        };
        let mut overrides = Overrides::default();
        for (name, key) in ENV_KEYS {
            if let Ok(value) = std::env::var(name) {
                overrides.values.push((name.to_string(), key, value));
            }
        }
        Ok(Env {
            home,
            user_home,
            config_file,
            config_explicit,
            overrides,
            no_color: var("NO_COLOR").is_some(),
            crash_at: var(SHARDS_TEST_CRASH_AT),
            held_repo_lock: var_path(SHARDS_HELD_REPO_LOCK),
            busy_timeout: var(SHARDS_TEST_BUSY_TIMEOUT_MS)
                .and_then(|v| v.parse().ok())
                .map(std::time::Duration::from_millis),
            shell_function: var(SHARDS_SHELL_FUNCTION).is_some(),
            register: var_path(SHARDS_REGISTER)
                .unwrap_or_else(|| PathBuf::from(crate::register::DEFAULT_DIR)),
            exe: std::env::current_exe().ok(),
            no_filler: var(SHARDS_TEST_NO_FILLER).is_some(),
        })
    }

    /// Returns the ledger's path inside the home.
    pub fn ledger_path(&self) -> PathBuf {
        self.home.join("shards.db")
    }

    /// Returns the default root of worktrees: `<home>/worktrees/{repo}/{name}`.
    pub fn default_worktree_root(&self) -> String {
        format!("{}/worktrees/{{repo}}/{{name}}", self.home.display())
    }
}
