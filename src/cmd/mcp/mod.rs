//! `shards mcp`: the same operations served to coding agents over the Model
//! Context Protocol on stdio, through the official `rmcp` SDK.
//!
//! Every tool call builds a fresh [`Ctx`] and runs the same `cmd::*::run`
//! function as the command line, so agents and people see one ledger and
//! one set of rules (destroy refuses work unless `force`, and so on). A
//! failure is a tool error carrying the CLI's message and hint; stdout
//! carries nothing but protocol messages, and progress is always off.
//! The line protocol itself is [`wire`]'s (stdio, a line at a time), with
//! `jsonrpc` (parse errors, batches) and `clip` (bounded error texts).

use std::path::PathBuf;

use clap::Args;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{Json, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use self::args::Checked;
use crate::cmd::{create, destroy, env, list, port, status};
use crate::context::{Ctx, GlobalArgs};
use crate::error::{Error, Result};
use crate::model::InfoField;
use crate::output;
use crate::paths::Env;

mod args;
mod clip;
mod jsonrpc;
mod summary;
mod wire;

/// Serve shards to coding agents over MCP (stdio)
///
/// Speaks the Model Context Protocol on stdin/stdout, for agents to create
/// their own shard, get ports and audit listeners. Tools: create_shard,
/// list_shards, destroy_shard, get_port, release_port, port_status,
/// shard_env. Same ledger and rules as the command line.
#[derive(Debug, Args)]
pub struct McpArgs {}

/// Input of `create_shard`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateInput {
    /// Shard name: letters, digits, `.`, `_`, `-`, `/` (like a branch name).
    pub name: String,
    /// Start the new branch from this ref instead of HEAD.
    pub base: Option<String>,
    /// Use this branch instead of one named after the shard.
    pub branch: Option<String>,
    /// The repository (any folder inside it); default: the server's working directory.
    pub repo: Option<PathBuf>,
    /// Run no hooks. A repository's hooks run only once its user approved them with `shards trust`; this tool never approves.
    #[serde(default)]
    pub no_hooks: bool,
}

/// Input of `port_status`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ScopeInput {
    /// Every repository instead of one.
    #[serde(default)]
    pub all: bool,
    /// The repository; default: the server's working directory.
    pub repo: Option<PathBuf>,
}

/// Input of `list_shards`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListInput {
    /// Every repository instead of one.
    #[serde(default)]
    pub all: bool,
    /// Also read each worktree (in parallel): modified and untracked
    /// counts, ahead/behind the default branch, last commit time, and
    /// whether something listens on each named port.
    #[serde(default)]
    pub full: bool,
    /// The repository; default: the server's working directory.
    pub repo: Option<PathBuf>,
}

/// Input of `destroy_shard`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DestroyInput {
    /// The shard to destroy.
    pub name: String,
    /// Destroy even with uncommitted or untracked work in the worktree.
    #[serde(default)]
    pub force: bool,
    /// Stop the processes running from the worktree first (SIGTERM, then
    /// SIGKILL after 5 seconds); without it, running processes refuse.
    #[serde(default)]
    pub reap: bool,
    /// The repository; default: the server's working directory.
    pub repo: Option<PathBuf>,
}

/// Input of `release_port`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PortInput {
    /// Service names (`web`, `api`, `db`, …).
    pub services: Vec<String>,
    /// The shard; default: the one whose worktree is `repo` (or the server's working directory).
    pub shard: Option<String>,
    /// The repository or a shard's worktree; default: the server's working directory.
    pub repo: Option<PathBuf>,
}

/// Input of `get_port`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetPortInput {
    /// Service names (`web`, `api`, `db`, …).
    pub services: Vec<String>,
    /// What the service is, for people ("Frontend dev server"); with one
    /// service only.
    pub description: Option<String>,
    /// The shard; default: the one whose worktree is `repo` (or the server's working directory).
    pub shard: Option<String>,
    /// The repository or a shard's worktree; default: the server's working directory.
    pub repo: Option<PathBuf>,
}

/// Input of `update_port`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdatePortInput {
    /// The service (as `get_port` allocated it).
    pub service: String,
    /// What the service is, for people; "" clears it.
    pub description: Option<String>,
    /// `tcp` or `udp`: what counts as running on its port.
    pub protocol: Option<String>,
    /// The HTTP path `port_status` asks (GET) to call it healthy, as `/healthz`; "" clears it.
    pub health: Option<String>,
    /// The shard; default: the one whose worktree is `repo` (or the server's working directory).
    pub shard: Option<String>,
    /// The repository or a shard's worktree; default: the server's working directory.
    pub repo: Option<PathBuf>,
}

/// Input of `shard_env` and `port_summary`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EnvInput {
    /// The shard; default: the one whose worktree is `repo` (or the server's working directory).
    pub shard: Option<String>,
    /// The repository or a shard's worktree; default: the server's working directory.
    pub repo: Option<PathBuf>,
}

/// The MCP server: stateless between calls.
#[derive(Debug, Clone)]
pub struct ShardsServer {
    tool_router: ToolRouter<Self>,
}

/// Runs one operation in a fresh context for `repo`, on a blocking thread so
/// the server keeps answering (ping, cancellation, other calls) while it
/// waits on git or the ledger; an error becomes the CLI's message and hint.
async fn call<T: Send + 'static>(
    repo: Option<PathBuf>,
    f: impl FnOnce(&Ctx) -> Result<T> + Send + 'static,
) -> std::result::Result<Json<T>, String> {
    let work = move || -> Result<T> {
        let global = GlobalArgs {
            json: true,
            quiet: true,
            dir: repo,
        };
        let ctx = Ctx::new(global, Env::from_process()?)?;
        f(&ctx)
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map(Json).map_err(|e| describe(&e)),
        Err(e) => Err(format!("error (internal): the operation stopped: {e}")),
    }
}

/// Checks what an MCP call says about a service, naming its fields as the
/// tool names them (not as `shards port`'s flags).
fn check_info(
    description: Option<&str>,
    protocol: Option<&str>,
    health: Option<&str>,
) -> Result<()> {
    crate::model::ServiceInfo::read(description, protocol, health).map_err(|(field, why)| {
        let named = match field {
            InfoField::Describe => "`description`",
            InfoField::Protocol => "`protocol`",
            InfoField::Health => "`health`",
        };
        port::info_refused(field, named, why)
    })?;
    Ok(())
}

/// `shards port` as MCP's port tools call it: no subcommand, no flags but
/// these.
fn port_args(services: Vec<String>, shard: Option<String>) -> port::PortArgs {
    port::PortArgs {
        action: None,
        services,
        shard,
        release: false,
        describe: None,
        protocol: None,
        health: None,
    }
}

/// The error as the CLI prints it, as one text, after its kind.
pub fn describe(e: &Error) -> String {
    format!("error ({}): {}", e.kind(), output::error_text(e))
}

#[tool_router(router = tool_router)]
impl ShardsServer {
    /// Builds the server and its tool list.
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Create a shard: a git worktree on its own branch, a block of ports no other shard on this machine holds, and a .env with PORT_RANGE_START, PORT_RANGE_END, PORT_COUNT, PORT. All or nothing."
    )]
    async fn create_shard(
        &self,
        Parameters(input): Parameters<Checked<CreateInput>>,
    ) -> std::result::Result<Json<create::CreateReport>, String> {
        let input = input.take("create_shard")?;
        call(input.repo, move |ctx| {
            let args = create::CreateArgs {
                name: input.name,
                base: input.base,
                branch: input.branch,
                block_size: None,
                direnv: false,
                no_hooks: input.no_hooks,
                no_spare: false,
                dry_run: false,
                cd: false,
                command: Vec::new(),
            };
            create::run(ctx, &args)
        })
        .await
    }

    #[tool(
        description = "List shards with their branch, ports, status (active, missing, creating, destroying) and worktree path. With full: also modified and untracked file counts, ahead/behind the default branch (base), last commit time, and each named port with whether something listens on it."
    )]
    async fn list_shards(
        &self,
        Parameters(input): Parameters<Checked<ListInput>>,
    ) -> std::result::Result<Json<list::ListReport>, String> {
        let input = input.take("list_shards")?;
        call(input.repo, move |ctx| {
            list::run(
                ctx,
                &list::ListArgs {
                    all: input.all,
                    full: input.full,
                },
            )
        })
        .await
    }

    #[tool(
        description = "Destroy a shard and free its ports. Refuses a worktree with uncommitted or untracked work unless force is true, and processes still running from it (listed) unless reap is true, which stops them (SIGTERM, SIGKILL after 5 s); keeps the branch when it has commits found nowhere else."
    )]
    async fn destroy_shard(
        &self,
        Parameters(input): Parameters<Checked<DestroyInput>>,
    ) -> std::result::Result<Json<destroy::DestroyReport>, String> {
        let input = input.take("destroy_shard")?;
        call(input.repo, move |ctx| {
            destroy::run(
                ctx,
                &destroy::DestroyArgs {
                    names: vec![input.name],
                    force: u8::from(input.force),
                    reap: input.reap,
                    grace: crate::shard::reap::DEFAULT_GRACE_SECS,
                    no_hooks: false,
                    catch_signals: false,
                },
            )
        })
        .await
    }

    #[tool(
        description = "Get or allocate stable named ports (web, api, db, ...) inside a shard's block; the shard's .env gains WEB_PORT and so on. Asking again returns the same ports; several names are all or nothing. With one service, description says what it is (update_port changes it later)."
    )]
    async fn get_port(
        &self,
        Parameters(input): Parameters<Checked<GetPortInput>>,
    ) -> std::result::Result<Json<port::PortReport>, String> {
        let input = input.take("get_port")?;
        call(input.repo, move |ctx| {
            check_info(input.description.as_deref(), None, None)?;
            let args = port::PortArgs {
                describe: input.description,
                ..port_args(input.services, input.shard)
            };
            port::run(ctx, &args)
        })
        .await
    }

    #[tool(
        description = "Change what describes a named port of a shard: its description, its protocol (tcp, or udp: running when a UDP socket is bound) or its health path (port_status then GETs it: healthy on 2xx/3xx). Fields left out stay as they are; the port stays."
    )]
    async fn update_port(
        &self,
        Parameters(input): Parameters<Checked<UpdatePortInput>>,
    ) -> std::result::Result<Json<port::PortReport>, String> {
        let input = input.take("update_port")?;
        call(input.repo, move |ctx| {
            check_info(
                input.description.as_deref(),
                input.protocol.as_deref(),
                input.health.as_deref(),
            )?;
            let held = port::run(ctx, &port_args(Vec::new(), input.shard.clone()))?;
            if !held.services.iter().any(|s| s.service == input.service) {
                return Err(Error::Usage {
                    message: format!(
                        "shard `{}` has no named port `{}`",
                        held.shard, input.service
                    ),
                    hint: "allocate it first with get_port".into(),
                });
            }
            let args = port::PortArgs {
                describe: input.description,
                protocol: input.protocol,
                health: input.health,
                ..port_args(vec![input.service], input.shard)
            };
            port::run(ctx, &args)
        })
        .await
    }

    #[tool(
        description = "A shard's ports at a glance: its block (start, end, count), its named ports with what describes them, the offsets no named port holds, the block's utilization, and the pool's figures."
    )]
    async fn port_summary(
        &self,
        Parameters(input): Parameters<Checked<EnvInput>>,
    ) -> std::result::Result<Json<summary::PortSummary>, String> {
        let input = input.take("port_summary")?;
        call(input.repo, move |ctx| {
            summary::run(ctx, input.shard.as_deref())
        })
        .await
    }

    #[tool(description = "Release named ports of a shard so their offsets can be reused.")]
    async fn release_port(
        &self,
        Parameters(input): Parameters<Checked<PortInput>>,
    ) -> std::result::Result<Json<port::PortReport>, String> {
        let input = input.take("release_port")?;
        call(input.repo, move |ctx| {
            let args = port::PortArgs {
                release: true,
                ..port_args(input.services, input.shard)
            };
            port::run(ctx, &args)
        })
        .await
    }

    #[tool(
        description = "Audit ports: for each shard, which ports in its block are listening and by which process, foreign listeners, the shard's processes listening outside its block, and named ports nothing listens on; plus the pool's figures."
    )]
    async fn port_status(
        &self,
        Parameters(input): Parameters<Checked<ScopeInput>>,
    ) -> std::result::Result<Json<status::StatusReport>, String> {
        let input = input.take("port_status")?;
        call(input.repo, move |ctx| {
            status::run(ctx, &status::StatusArgs { all: input.all })
        })
        .await
    }

    #[tool(
        description = "A shard's environment variables (the ports and names in its .env), to start processes with."
    )]
    async fn shard_env(
        &self,
        Parameters(input): Parameters<Checked<EnvInput>>,
    ) -> std::result::Result<Json<env::EnvReport>, String> {
        let input = input.take("shard_env")?;
        call(input.repo, move |ctx| {
            env::run(
                ctx,
                &env::EnvArgs {
                    name: input.shard,
                    format: env::Shell::Json,
                },
            )
        })
        .await
    }
}

impl Default for ShardsServer {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ShardsServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("shards", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "shards gives each coding agent its own git worktree and block of ports. Create a shard, \
                 ask get_port for the port of each server you start, and destroy the shard when done.",
            )
    }
}

/// Serves MCP on stdin/stdout until the client closes the stream.
pub fn run(_args: &McpArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("<tokio runtime>", e))?;
    runtime.block_on(async {
        let service = ShardsServer::new()
            .serve(wire::Wire::stdio())
            .await
            .map_err(|e| Error::io("<stdio>", std::io::Error::other(e.to_string())))?;
        service
            .waiting()
            .await
            .map_err(|e| Error::io("<stdio>", std::io::Error::other(e.to_string())))?;
        Ok(())
    })
}
