//! `runnel chat`: the group chat's web API on a Kafka cluster. With no `--brokers` it uses the
//! local broker, and if none answers it starts an embedded runnel broker in this process on
//! its own data directory, so `runnel chat` alone is a working chat.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use runnel_broker::{Broker, BrokerConfig};
use runnel_chat::store::ChatStore;

use super::serve::shutdown_signal;

/// The broker `runnel chat` tries first.
const LOCAL_BROKER: &str = "127.0.0.1:9092";

/// Options of `runnel chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Address of the web API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Bootstrap servers (default: the local broker, else an embedded one).
    #[arg(long, env = "RUNNEL_BROKERS")]
    brokers: Option<String>,
    /// Data directory of the embedded broker, when one is started.
    #[arg(long, default_value = "./chat-data")]
    data_dir: PathBuf,
}

/// Runs the chat server.
pub fn run(args: ChatArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RUNNEL_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start the async runtime")?;
    runtime.block_on(async move {
        let (store, embedded) = connect(&args).await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listen on {}; pick another address with --listen", args.listen))?;
        let bound = listener.local_addr()?;
        println!("runnel chat listening on http://{bound} (brokers {})", store.brokers());
        let app = runnel_chat::api::router(Arc::new(store));
        // Answers go out at once (no Nagle delay on small JSON replies).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.context("serve the chat")?;
        if let Some((broker, server)) = embedded {
            drop(broker);
            let _ = server.await;
        }
        Ok(())
    })
}

type Embedded = (Arc<Broker>, tokio::task::JoinHandle<()>);

/// The store on the given brokers, the local broker, or an embedded broker started here.
async fn connect(args: &ChatArgs) -> anyhow::Result<(ChatStore, Option<Embedded>)> {
    if let Some(brokers) = &args.brokers {
        return Ok((ChatStore::connect(brokers)?, None));
    }
    let answers =
        tokio::time::timeout(std::time::Duration::from_millis(500), tokio::net::TcpStream::connect(LOCAL_BROKER))
            .await
            .is_ok_and(|connected| connected.is_ok());
    if answers {
        return Ok((ChatStore::connect(LOCAL_BROKER)?, None));
    }
    let config = BrokerConfig { data_dir: args.data_dir.clone(), ..BrokerConfig::default() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("bind the embedded broker")?;
    let bound = listener.local_addr()?;
    let broker = Broker::open(config, bound)?;
    tracing::info!(address = %bound, data_dir = %args.data_dir.display(), "no broker at {LOCAL_BROKER}; started an embedded one");
    let server = tokio::spawn({
        let broker = broker.clone();
        async move {
            if let Err(e) = runnel_broker::server::run(listener, broker, shutdown_signal()).await {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        }
    });
    Ok((ChatStore::connect(&bound.to_string())?, Some((broker, server))))
}
