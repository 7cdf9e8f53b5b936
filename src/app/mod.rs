//! Wiring: opens the store, makes sure an owner token exists, starts the API and the
//! dispatcher, and stops them in order.

pub mod listener;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinHandle;

use crate::api::{self, AppState};
use crate::config::{NodeRole, ServeArgs};
use crate::dispatch::{DispatchSettings, Dispatcher};
use crate::domain::sealed::Sealer;
use crate::domain::time::now_millis;
use crate::domain::token::{self, Role};
use crate::jobs::{JobRunner, JobSettings};
use crate::store::{Actor, Dialect, PoolSettings, Store};
use crate::targets::http::{HttpSettings, HttpTarget};
use crate::targets::Targets;
use listener::ListenerSettings;

/// Bytes of output kept per job (its tail).
const JOB_LOG_LIMIT: usize = 256 * 1024;

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    store: Store,
    /// Lets the API's runtime end (see [`ApiRuntime::release`]).
    release_api: oneshot::Sender<()>,
}

pub async fn open_store(args: &crate::config::DatabaseArgs) -> anyhow::Result<Store> {
    if args.database_url.is_none() {
        std::fs::create_dir_all(&args.data_dir)
            .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    }
    let pools = PoolSettings {
        max_connections: args.db_pool_size,
    };
    Store::open(&args.url(), &pools)
        .await
        .context("opening the database")
}

/// The key that seals stored secrets: given, read from its file, or made there on the
/// first start (readable by this user only).
fn secret_key(args: &ServeArgs) -> anyhow::Result<Sealer> {
    if let Some(text) = &args.secret_key {
        return Sealer::from_key_text(text)
            .map_err(|e| anyhow::anyhow!("HOOKRELAY_SECRET_KEY: {e}"));
    }
    let path = args
        .secret_key_file
        .clone()
        .unwrap_or_else(|| args.database.data_dir.join("secret.key"));
    if !path.exists() {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let made = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| writeln!(file, "{}", crate::domain::sealed::generate_key()));
        match made {
            Ok(()) => tracing::warn!(
                path = %path.display(),
                "made a new secret key for stored secrets; back it up (without it they cannot \
                 be read) and give every process of a cluster the same file"
            ),
            // Another process made it first: read theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("writing {}", path.display())),
        }
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the secret key from {}", path.display()))?;
    Sealer::from_key_text(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Ensures someone can use the API: the configured admin token, or a new one printed once.
async fn ensure_owner_token(store: &Store, admin_token: Option<&str>) -> anyhow::Result<()> {
    match admin_token {
        Some(secret) => {
            store.ensure_token("admin", Role::Owner, secret).await?;
            tracing::info!(
                "owner token: the configured one (--admin-token or HOOKRELAY_ADMIN_TOKEN)"
            );
        }
        None if store.count_tokens().await? == 0 => {
            let secret = token::generate();
            store
                .create_token("initial owner", Role::Owner, &secret, &Actor::system())
                .await?;
            println!("hookrelay: created an owner API token. It is shown only this once; store it now:\n\n    {secret}\n");
            tracing::info!("owner token: created at this first start and printed once");
        }
        None => tracing::info!("owner token: those already in the database"),
    }
    Ok(())
}

pub async fn start(args: ServeArgs) -> anyhow::Result<Running> {
    args.check()?;
    crate::metrics::handle();
    raise_open_files_limit(args.max_in_flight);
    // reqwest is built without a default crypto provider, so the process picks ring once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut store = open_store(&args.database).await?;
    store.limit_rendered_bytes_per_event(args.limits.max_rendered_bytes_per_event);
    store
        .use_secret_key(secret_key(&args)?)
        .await
        .context("checking the secret key")?;
    if store.dialect() == Dialect::Sqlite && args.role != NodeRole::Both {
        // One SQLite file is one process's: its caches assume no other process writes.
        anyhow::bail!(
            "--role {:?} needs PostgreSQL (--database-url postgres://…); with SQLite run one process with --role both",
            args.role
        );
    }
    // Bound before the owner token is made: a first start that cannot listen (the port is
    // taken, say) must not create, print and lose it.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    ensure_owner_token(&store, args.admin_token.as_deref()).await?;
    let addr = listener.local_addr()?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));

    let wake = Arc::new(Notify::new());
    let jobs_wake = Arc::new(Notify::new());
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();

    if args.role.delivers() {
        let target = Targets::new(HttpTarget::new(HttpSettings {
            allow_private_targets: args.allow_private_targets,
            response_body_limit: args.response_body_limit,
            max_in_flight: args.max_in_flight,
        })?);
        let dispatcher = Dispatcher::new(
            store.clone(),
            target,
            DispatchSettings {
                retry: args.retry_schedule.clone(),
                lease: args.lease,
                claim_batch: args.claim_batch,
                max_in_flight: args.max_in_flight,
                endpoint_cap: args.endpoint_cap(),
                poll_interval: args.poll_interval,
                shutdown_grace: args.shutdown_grace,
            },
            wake.clone(),
        );
        store.deliver_locally(dispatcher.handoff());
        tasks.push(tokio::spawn(dispatcher.run(shutdown_rx.clone())));
        let runner = JobRunner::new(
            store.clone(),
            JobSettings {
                max_concurrent: args.max_jobs,
                poll_interval: args.poll_interval,
                heartbeat: args.job_heartbeat,
                orphan_after: args.job_orphan_after,
                log_limit: JOB_LOG_LIMIT,
                data_dir: args.database.data_dir.clone(),
                shutdown_grace: args.shutdown_grace,
                public_url: public_url.clone(),
            },
            jobs_wake.clone(),
            wake.clone(),
        );
        tasks.push(tokio::spawn(runner.run(shutdown_rx.clone())));
        tasks.push(tokio::spawn(crate::dispatch::recovery::run(
            store.clone(),
            wake.clone(),
            args.poll_interval,
            shutdown_rx.clone(),
        )));
        tasks.push(tokio::spawn(crate::dispatch::notices::watch_health(
            store.clone(),
            args.disable_after,
            args.health_check_interval,
            shutdown_rx.clone(),
        )));
        if store.dialect() == Dialect::Postgres {
            tasks.push(tokio::spawn(crate::dispatch::wake::listen(
                args.database.url(),
                vec![wake.clone(), jobs_wake.clone()],
                shutdown_rx.clone(),
            )));
        }
    }
    tasks.push(tokio::spawn(crate::metrics::upkeep(shutdown_rx.clone())));
    tasks.push(tokio::spawn(janitor(
        store.clone(),
        args.retention_days,
        shutdown_rx.clone(),
    )));

    let state = AppState {
        store: store.clone(),
        wake,
        jobs_wake,
        allow_private_targets: args.allow_private_targets,
        public_url,
        throttle: Arc::new(api::throttle::Throttle::new(args.limits.public_rates())),
        trust_forwarded_for: args.limits.trust_forwarded_for,
        form_quota: (
            args.limits.form_quota_submissions,
            args.limits.form_quota_bytes,
        ),
        min_free_disk_bytes: args.limits.min_free_disk_bytes,
        openapi: Arc::new(routes::openapi()),
    };
    let app = if args.role.serves_api() {
        routes::router(
            state,
            &routes::RouteSettings {
                max_body_bytes: args.max_body_bytes,
                body_read_timeout: args.limits.body_read_timeout,
                max_requests_in_flight: args.max_requests_in_flight as usize,
            },
        )
    } else {
        routes::health_router(state)
    };
    let listening = ListenerSettings {
        max_connections: args.limits.max_connections as usize,
        max_connections_per_client: args.limits.max_connections_per_client as usize,
        header_read_timeout: args.limits.header_read_timeout,
        idle_timeout: args.limits.idle_timeout,
        shutdown_grace: args.shutdown_grace,
    };
    let api = serve_api(
        listener.into_std()?,
        app,
        listening,
        args.api_threads(),
        shutdown_rx,
    )?;
    tasks.push(tokio::spawn(async move {
        let _ = api.served.await;
    }));
    tracing::info!(%addr, role = ?args.role, "hookrelay listening");
    Ok(Running {
        addr,
        shutdown,
        tasks,
        store,
        release_api: api.release,
    })
}

impl Running {
    /// Stops accepting requests, lets in-flight deliveries finish (or hands them back),
    /// then closes the database.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.store.close().await;
        let _ = self.release_api.send(());
    }
}

/// The API served by a runtime on threads of its own (`--api-threads`), so a publish waits
/// for its commit and for room in the dispatcher, never behind deliveries in one run
/// queue. Measured on 2 cores: 16 % more deliveries per second and 10 % less CPU per
/// delivery (docs/PERFORMANCE.md, step 35).
struct ApiRuntime {
    /// Resolves once the HTTP server has stopped.
    served: oneshot::Receiver<()>,
    /// Sent (or dropped) once the store is closed. Until then the runtime stays up:
    /// database connections opened by a request are registered with it, and the
    /// deliveries' runtime may be using them to record its last results.
    release: oneshot::Sender<()>,
}

fn serve_api(
    listener: std::net::TcpListener,
    app: axum::Router,
    settings: ListenerSettings,
    threads: usize,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<ApiRuntime> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    let runtime = builder
        .thread_name("hookrelay-api")
        .enable_all()
        .build()
        .context("starting the API's runtime")?;
    let (served_tx, served) = oneshot::channel();
    let (release, released) = oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("hookrelay-api".into())
        .spawn(move || {
            runtime.block_on(async move {
                let stopped = async move {
                    let _ = shutdown.wait_for(|stop| *stop).await;
                };
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => listener::serve(listener, app, settings, stopped).await,
                    Err(e) => tracing::error!(error = %e, "HTTP server failed"),
                }
                let _ = served_tx.send(());
                let _ = released.await;
            });
        })
        .context("starting the API's thread")?;
    Ok(ApiRuntime { served, release })
}

/// Every delivery in flight holds a socket, and so do the API's clients: lifts the soft
/// limit on open files to the hard one (as Go's runtime and nginx do), since the common
/// soft default of 1 024 is near what 512 deliveries in flight and their idle connections
/// need. Warns when even the hard limit looks short.
fn raise_open_files_limit(max_in_flight: usize) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: these calls only read or write the struct passed to them. Raising can fail
    // (an unlimited hard limit is refused on Linux); the limit is then read back as is.
    let known = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0
        }
    };
    // Deliveries, as many idle connections kept for them, the API and the database.
    let wanted: libc::rlim_t = 2 * max_in_flight as libc::rlim_t + 256;
    if !known || limit.rlim_cur < wanted {
        tracing::warn!(
            limit = limit.rlim_cur,
            wanted,
            "the open-files limit is low for --max-in-flight; raise `ulimit -n` (or LimitNOFILE in systemd)"
        );
    }
}

/// Periodic housekeeping that must not slow the hot paths: pruning every hour, and every
/// minute a sweep that mends any ordering key left without a due call.
async fn janitor(store: Store, retention_days: u32, mut shutdown: watch::Receiver<bool>) {
    const PRUNE_EVERY: u32 = 60;
    for minute in 0u32.. {
        if minute % PRUNE_EVERY == 0 {
            prune(&store, retention_days).await;
        }
        match store.mend_ordering_keys(now_millis()).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(calls = n, "made stalled ordered calls due"),
            Err(e) => tracing::warn!(error = %e, "mending ordering keys failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

async fn prune(store: &Store, retention_days: u32) {
    if retention_days > 0 {
        let cutoff = now_millis() - i64::from(retention_days) * 86_400_000;
        match store.prune_before(cutoff).await {
            Ok(pruned) => tracing::debug!(?pruned, "applied the retention period"),
            Err(e) => tracing::warn!(error = %e, "pruning old bodies and attempts failed"),
        }
    }
    match store.prune_idempotency_keys(now_millis()).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(removed = n, "pruned idempotency keys"),
        Err(e) => tracing::warn!(error = %e, "pruning idempotency keys failed"),
    }
    if let Err(e) = store.prune_sessions(now_millis()).await {
        tracing::warn!(error = %e, "pruning expired dashboard sessions failed");
    }
}
