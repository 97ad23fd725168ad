//! The context a command runs in: resolved locations, the output format,
//! and lazily opened doors to the outside (repository, configuration,
//! ledger), so a command opens only what it uses.

use std::cell::{OnceCell, RefCell, RefMut};
use std::path::PathBuf;

use clap::Args;

use crate::config::{self, Config, Overrides};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::host;
use crate::ledger::Ledger;
use crate::output::{Format, RenderCtx, Style};
use crate::paths::Env;
use crate::progress::Progress;
use crate::register::Register;
use crate::shard::{Site, holds, relocate};
use crate::worktree::Repo;

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Print data as JSON on stdout (errors too)
    #[arg(long, global = true)]
    pub json: bool,

    /// Print nothing on stderr but warnings and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Run as if shards was started in PATH
    #[arg(short = 'C', value_name = "PATH", global = true)]
    pub dir: Option<PathBuf>,
}

/// Everything a command needs from its surroundings.
pub struct Ctx {
    /// Locations and settings from the environment.
    pub env: Env,
    /// Global flags.
    pub global: GlobalArgs,
    /// The folder shards acts from (`-C` or the working directory).
    pub cwd: PathBuf,
    repo: OnceCell<Repo>,
    ledger: RefCell<Option<Ledger>>,
}

impl Ctx {
    /// Builds the context; opens nothing yet.
    pub fn new(global: GlobalArgs, env: Env) -> Result<Ctx> {
        let here = std::env::current_dir().map_err(|e| {
            Error::io(
                "the working directory",
                std::io::Error::new(
                    e.kind(),
                    "no longer exists or cannot be read; cd to an existing folder",
                ),
            )
        })?;
        let cwd = match &global.dir {
            Some(d) => here.join(d),
            None => here,
        };
        if !cwd.is_dir() {
            return Err(Error::io(
                &cwd,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        Ok(Ctx {
            env,
            global,
            cwd,
            repo: OnceCell::new(),
            ledger: RefCell::new(None),
        })
    }

    /// Returns the output format.
    pub fn format(&self) -> Format {
        if self.global.json {
            Format::Json
        } else {
            Format::Human
        }
    }

    /// Returns a progress bar, hidden under `--json` or `--quiet`.
    pub fn progress(&self, message: &'static str) -> Progress {
        Progress::new(!self.global.json && !self.global.quiet, message)
    }

    /// Prints a status line on stderr (a hook step's announcement), unless
    /// `--quiet`.
    pub fn say(&self, line: &str) {
        if !self.global.quiet {
            crate::output::note(line);
        }
    }

    /// Returns the repository shards was run in.
    pub fn repo(&self) -> Result<&Repo> {
        if let Some(r) = self.repo.get() {
            return Ok(r);
        }
        let repo = Repo::discover(&self.cwd)?;
        Ok(self.repo.get_or_init(|| repo))
    }

    /// Returns the repository when shards runs inside one, `None` outside.
    pub fn repo_if_any(&self) -> Result<Option<&Repo>> {
        match self.repo() {
            Ok(r) => Ok(Some(r)),
            Err(Error::NotARepo { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Loads the configuration: user file, project file of the current
    /// worktree (if in a repository), `SHARDS_*` variables, then `flags`.
    pub fn config(&self, flags: &Overrides) -> Result<Config> {
        let root = self.repo_if_any()?.and_then(|r| r.workdir.clone());
        self.config_in(root.as_deref(), flags)
    }

    /// Loads the configuration as [`Ctx::config`] does, with the project
    /// file of the worktree at `root` (another repository's, for `prune`).
    pub fn config_in(&self, root: Option<&std::path::Path>, flags: &Overrides) -> Result<Config> {
        let mut sources = Vec::new();
        match config::load(&self.env.config_file)? {
            Some(src) => sources.push(src),
            None if self.env.config_explicit => {
                return Err(Error::Config {
                    origin: "SHARDS_CONFIG".into(),
                    message: format!("{} does not exist", self.env.config_file.display()),
                });
            }
            None => {}
        }
        if let Some(root) = root
            && let Some(src) = config::load(&root.join(".shards.toml"))?
        {
            sources.push(src.into_project());
        }
        let mut overrides = self.env.overrides.clone();
        overrides.values.extend(flags.values.iter().cloned());
        let default_max = match host::ephemeral_low() {
            Some(low) if low > config::DEFAULT_BASE + config::DEFAULT_BLOCK_SIZE => low - 1,
            Some(_) => u16::MAX,
            None => 32767,
        };
        config::resolve(default_max, &sources, &overrides)
    }

    /// Opens the ledger (creating the home and the database file if needed,
    /// private, or group read/write in a shared home) on first use.
    pub fn ledger(&self) -> Result<RefMut<'_, Ledger>> {
        let mut slot = self.ledger.borrow_mut();
        if slot.is_none() {
            let path = self.env.ledger_path();
            let sharing = fsutil::Sharing::of(&self.env.home);
            // A home or ledger file this user may not use is the ledger's
            // problem (exit 3), not a generic file error.
            let unwritable = |e: Error| match e {
                Error::Io { .. } => Error::LedgerUnwritable {
                    path: path.clone(),
                    source: Box::new(e),
                },
                other => other,
            };
            fsutil::create_home_dir(&self.env.home, sharing).map_err(unwritable)?;
            fsutil::touch_home_file(&path, sharing).map_err(unwritable)?;
            *slot = Some(Ledger::open(&path, self.timeout())?);
            if let Some(ledger) = slot.as_mut() {
                self.follow_moves(ledger);
                let register = Register::new(self.env.register.clone());
                holds::backfill(&register, ledger, self.timeout());
            }
        }
        RefMut::filter_map(slot, Option::as_mut).map_err(|_| Error::LedgerLocked {
            path: self.env.ledger_path(),
        })
    }

    /// Makes what this process wrote to the ledger durable now, when it is
    /// open: before an `exec`, which never drops the ledger.
    pub fn sync_ledger(&self) -> std::io::Result<()> {
        match self.ledger.try_borrow() {
            Ok(slot) => slot.as_ref().map_or(Ok(()), Ledger::sync_wal),
            Err(_) => Ok(()),
        }
    }

    /// How long to wait for another process's ledger or register lock.
    pub fn timeout(&self) -> std::time::Duration {
        self.env.busy_timeout.unwrap_or(crate::ledger::BUSY_TIMEOUT)
    }

    /// Follows repositories and worktrees that moved (see
    /// `shard::relocate`) as the ledger opens, so every command sees a
    /// moved shard where git has it.
    fn follow_moves(&self, ledger: &mut Ledger) {
        let here = || self.repo_if_any().ok().flatten();
        // Following a move is a repair the command can do without: if it
        // fails, the command goes on and reports its own ledger errors,
        // and prune still keeps every folder that is a live worktree.
        let _ = relocate::follow_moves(ledger, here);
    }

    /// Runs one lifecycle operation on the ledger (opened if needed),
    /// with this context's home and test crash point.
    pub fn with_site<T>(&self, f: impl FnOnce(&mut Site<'_>) -> Result<T>) -> Result<T> {
        let mut ledger = self.ledger()?;
        let register = Register::new(self.env.register.clone());
        let mut site = Site {
            ledger: &mut ledger,
            home: &self.env.home,
            crash_at: self.env.crash_at.as_deref(),
            held_lock: self.env.held_repo_lock.as_deref(),
            register: &register,
            timeout: self.timeout(),
        };
        f(&mut site)
    }

    /// Returns what human rendering needs, with the command's `opts`.
    pub fn render_ctx<O>(&self, opts: O) -> RenderCtx<'_, O> {
        RenderCtx {
            style: Style::detect(self.env.no_color),
            user_home: self.env.user_home.as_deref(),
            opts,
        }
    }
}
