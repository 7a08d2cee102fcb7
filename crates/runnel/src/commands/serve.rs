//! `runnel serve`: run the broker until SIGINT or SIGTERM, then shut down cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use runnel_broker::{Broker, BrokerConfig};
use runnel_console::Console;
use runnel_console::broker_source::{BrokerSource, history_log};
use runnel_console::settings::{ConsoleSettings, check_webhook};

/// Options of `runnel serve`; flags win over the config file.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory (Kafka's log.dirs). Formatted with a new cluster id when empty.
    #[arg(long, env = "RUNNEL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address of the first listener (Kafka's listeners); port 0 picks a free port.
    #[arg(long, env = "RUNNEL_LISTEN")]
    listen: Option<SocketAddr>,
    /// A Kafka server.properties file (listeners, log.dirs, num.partitions, log.retention.*, …).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Address of the HTTP listener serving /metrics and the console (http.listen); port 0
    /// picks a free port, `off` disables it.
    #[arg(long, env = "RUNNEL_HTTP_LISTEN")]
    http_listen: Option<String>,
    /// Where the console posts firing and resolved alerts, as Alertmanager's webhook JSON
    /// (console.alert.webhook): any receiver an Alertmanager `webhook_config` could call.
    #[arg(long, env = "RUNNEL_ALERT_WEBHOOK")]
    alert_webhook: Option<String>,
}

/// Runs the broker.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    super::logging::init();
    raise_open_file_limit();
    let mut config = match &args.config {
        Some(path) => BrokerConfig::from_file(path)?,
        None => BrokerConfig::default(),
    };
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if let Some(listen) = args.listen {
        config.listeners[0].bind = listen;
    }
    if let Some(http) = &args.http_listen {
        config.http_listen = runnel_broker::config::parse_http_listen("--http-listen", http)?;
    }
    let mut console_settings = ConsoleSettings::from_properties(&config.console).map_err(anyhow::Error::msg)?;
    if let Some(url) = &args.alert_webhook {
        console_settings.webhook = Some(check_webhook(url).map_err(anyhow::Error::msg)?);
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start the async runtime")?;
    let served = runtime.block_on(async move {
        let mut sockets = Vec::new();
        let mut bound = Vec::new();
        for listener in &config.listeners {
            let socket = tokio::net::TcpListener::bind(listener.bind).await.with_context(|| {
                format!(
                    "listen on {} (listener {}); is another broker running there? pick another with --listen or listeners",
                    listener.bind, listener.name
                )
            })?;
            bound.push(socket.local_addr().context("read the bound address")?);
            sockets.push(socket);
        }
        let http_address = config.http_listen;
        let broker = Broker::open_listening(config, &bound)?;
        let (http, console) = match http_address {
            Some(address) => bind_http(address, broker.clone(), console_settings).await,
            None => (None, None),
        };
        tracing::info!(
            cluster_id = %broker.meta.cluster_id,
            data_dir = %broker.data_dir().display(),
            topics = broker.topics.all().len(),
            clean_start = broker.recovered_cleanly,
            startup_ms = started.elapsed().as_millis() as u64,
            "runnel broker ready"
        );
        // Machine-readable lines on stdout, for scripts and tests that start on port 0: one per
        // listener, then the first listener's address last; the HTTP listener's line, if any,
        // comes before them.
        for (listener, address) in broker.listeners.iter().zip(&bound) {
            tracing::info!(listener = %listener.name, protocol = listener.protocol.name(), address = %address, advertised = %format!("{}:{}", listener.endpoint.0, listener.endpoint.1), "listener ready");
            println!("runnel listener {} {} listening on {address}", listener.name, listener.protocol.name());
        }
        println!("runnel listening on {}", bound[0]);
        let stop = async move {
            shutdown_signal().await;
            // No history sample may be written once the broker closes its logs.
            if let Some(console) = console {
                console.stop();
            }
        };
        runnel_broker::server::run_listeners(sockets, broker, stop).await?;
        if let Some(http) = http {
            http.abort();
        }
        Ok(())
    });
    // Admin work still running on the blocking pool holds no acknowledged data (what it made
    // unfinished is removed at the next start): do not wait for it.
    runtime.shutdown_timeout(SHUTDOWN_WAIT);
    served
}

/// How long an exit waits for work left on the runtime's blocking pool.
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Binds the HTTP listener, starts the console, and serves both in tasks of their own; a bind
/// failure is logged and the broker goes on without them, a console that cannot start leaves
/// `/metrics` alone.
async fn bind_http(
    address: SocketAddr,
    broker: Arc<Broker>,
    settings: ConsoleSettings,
) -> (Option<tokio::task::JoinHandle<()>>, Option<Arc<Console>>) {
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(address = %address, error = %e, "cannot listen for HTTP; /metrics and the console are unavailable (set --http-listen)");
            return (None, None);
        }
    };
    let Ok(bound) = listener.local_addr() else { return (None, None) };
    let tls = match &broker.config.http_tls {
        Some(settings) => match runnel_broker::security::tls::server_config("http", settings) {
            Ok(config) => Some(config),
            Err(e) => {
                tracing::error!(error = %e, "cannot serve HTTPS; /metrics and the console are unavailable (fix http.ssl.keystore.location)");
                return (None, None);
            }
        },
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let console = match start_console(&broker, settings, format!("{scheme}://{bound}")).await {
        Ok(console) => Some(console),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "the console cannot start; /metrics is still served");
            None
        }
    };
    tracing::info!(address = %bound, console = console.is_some(), https = tls.is_some(), basic_auth = broker.config.http_basic_auth, "HTTP listener ready: /metrics and the console");
    println!("runnel http listening on {scheme}://{bound}");
    (Some(tokio::spawn(super::metrics_http::serve(listener, broker, console.clone(), tls))), console)
}

/// Opens the console over the broker, with its history in the broker's `__runnel_console`
/// topic, and starts its sampling task.
async fn start_console(broker: &Arc<Broker>, settings: ConsoleSettings, url: String) -> anyhow::Result<Arc<Console>> {
    let broker = broker.clone();
    let console = tokio::task::spawn_blocking(move || {
        let log = history_log(&broker, &settings)?;
        let source = Arc::new(BrokerSource::new(broker, settings.slow_fsync_seconds));
        anyhow::Ok(Console::open(source, log, settings, url))
    })
    .await??;
    tokio::spawn(console.clone().run());
    Ok(console)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; stop with Ctrl-C");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutdown signal received");
}

/// Raises the soft limit on open files to the hard limit: segment files are kept open (within a
/// budget of half this limit), and the more of them stay open, the fewer reopens a broker with
/// thousands of partitions makes. Kafka's docs ask the operator to do this; we do it.
fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = Rlimit { current: limit.maximum, maximum: limit.maximum };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, "could not raise the open-file limit; many partitions may exhaust it");
        }
    }
}
