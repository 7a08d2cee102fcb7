//! `runnel chat`: the group chat's web API on a Kafka cluster. With no `--brokers` it uses the
//! local broker, and if none answers it starts an embedded runnel broker in this process on
//! its own data directory, so `runnel chat` alone is a working chat.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use runnel_broker::{Broker, BrokerConfig};
use runnel_chat::store::ChatStore;

use super::serve::shutdown_signal;

/// The broker `runnel chat` tries first.
const LOCAL_BROKER: &str = "127.0.0.1:9092";

/// `runnel chat [send|read]`: serve the chat, or use it from a terminal.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = false)]
pub struct ChatCommand {
    #[command(subcommand)]
    action: Option<ChatAction>,
    #[command(flatten)]
    args: ChatArgs,
}

/// Terminal use of the chat, straight on the Kafka cluster.
#[derive(Debug, Subcommand)]
pub enum ChatAction {
    /// Post a message to a room.
    Send {
        /// Room name.
        room: String,
        /// The message.
        text: String,
        /// Who is writing (default: $USER).
        #[arg(long, env = "USER")]
        user: String,
    },
    /// Print the messages after your bookmark (all of them the first time), then move it.
    Read {
        /// Room name.
        room: String,
        /// Whose bookmark (default: $USER).
        #[arg(long, env = "USER")]
        user: String,
        /// Keep waiting for new messages.
        #[arg(short, long)]
        follow: bool,
    },
}

/// Options of the chat server.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Address of the web API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Bootstrap servers (default: the local broker, else an embedded one).
    #[arg(long, global = true, env = "RUNNEL_BROKERS")]
    brokers: Option<String>,
    /// Data directory of the embedded broker, when one is started.
    #[arg(long, default_value = "./chat-data")]
    data_dir: PathBuf,
    /// A librdkafka property for the chat's own clients (repeatable): its SASL and TLS
    /// settings, e.g. `-X security.protocol=SASL_SSL -X sasl.username=chat ...`.
    #[arg(short = 'X', long = "client-property", global = true, value_name = "KEY=VALUE", value_parser = super::client::parse_key_value)]
    properties: Vec<(String, String)>,
    /// Users must sign in with their Kafka (SASL) user name and password, checked by signing
    /// in to the cluster as them; each may then post, read and move bookmarks only as themself.
    #[arg(long)]
    require_sign_in: bool,
    /// Tokens an administrator issues (lines of `USER TOKEN`): each signs its user in, as a
    /// password or a bearer token. Implies --require-sign-in.
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
}

/// Runs `runnel chat`.
pub fn run(command: ChatCommand) -> anyhow::Result<()> {
    match command.action {
        None => serve(command.args),
        Some(action) => terminal(action, command.args.brokers.as_deref().unwrap_or(LOCAL_BROKER)),
    }
}

/// `chat send` and `chat read`.
fn terminal(action: ChatAction, brokers: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let store = ChatStore::connect(brokers)?;
        let check = |r: Result<(), runnel_chat::error::ApiError>| r.map_err(|e| anyhow::anyhow!("{e}"));
        match action {
            ChatAction::Send { room, text, user } => {
                check(runnel_chat::rules::room(&room))?;
                check(runnel_chat::rules::user(&user))?;
                check(runnel_chat::rules::text(&text))?;
                let offset = store.post(&room, &user, &text, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("posted to {room} at offset {offset}");
            }
            ChatAction::Read { room, user, follow } => {
                check(runnel_chat::rules::room(&room))?;
                check(runnel_chat::rules::user(&user))?;
                let mut after = None;
                loop {
                    let wait = if follow { 10_000 } else { 0 };
                    let messages = store
                        .read(&room, &user, after, wait, runnel_chat::rules::MAX_BATCH)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    for m in &messages {
                        println!("[{}] {}: {}", m.offset, m.user, m.text);
                    }
                    if let Some(last) = messages.last() {
                        store.mark_read(&room, &user, last.offset).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                        after = Some(last.offset);
                    }
                    if !follow && messages.len() < runnel_chat::rules::MAX_BATCH {
                        break;
                    }
                }
            }
        }
        Ok(())
    })
}

/// Runs the chat server.
fn serve(args: ChatArgs) -> anyhow::Result<()> {
    super::logging::init();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start the async runtime")?;
    runtime.block_on(async move {
        let (store, embedded) = connect(&args).await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listen on {}; pick another address with --listen", args.listen))?;
        let bound = listener.local_addr()?;
        println!("runnel chat listening on http://{bound} (brokers {})", store.brokers());
        let app = match sign_in(&args, store.brokers())? {
            Some(auth) => {
                tracing::info!("users sign in: each may act only as themself");
                runnel_chat::api::router_with_auth(Arc::new(store), Arc::new(auth))
            }
            None => runnel_chat::api::router(Arc::new(store)),
        };
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

/// Sign-in as the options ask: by Kafka credentials (a SASL sign-in to the cluster with the
/// chat's own security settings and the user's name and password) and by issued tokens.
fn sign_in(args: &ChatArgs, brokers: &str) -> anyhow::Result<Option<runnel_chat::auth::Auth>> {
    let issued = match &args.tokens {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("read --tokens {}", path.display()))?;
            runnel_chat::auth::Auth::read_tokens(&text)
                .map_err(|e| anyhow::anyhow!("--tokens {}: {e}", path.display()))?
        }
        None => Default::default(),
    };
    if !args.require_sign_in && args.tokens.is_none() {
        return Ok(None);
    }
    let check: Option<runnel_chat::auth::PasswordCheck> = if args.require_sign_in {
        let protocol =
            args.properties.iter().rev().find(|(k, _)| k == "security.protocol").map(|(_, v)| v.to_ascii_uppercase());
        if !matches!(protocol.as_deref(), Some("SASL_PLAINTEXT" | "SASL_SSL")) {
            anyhow::bail!(
                "--require-sign-in checks passwords with SASL: give the chat's own SASL settings, \
                 e.g. -X security.protocol=SASL_PLAINTEXT -X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=chat -X sasl.password=..."
            );
        }
        let brokers = brokers.to_string();
        let base = args.properties.clone();
        Some(Arc::new(move |user: &str, password: &str| {
            let mut properties = base.clone();
            properties.retain(|(k, _)| k != "sasl.username" && k != "sasl.password");
            properties.push(("sasl.username".into(), user.into()));
            properties.push(("sasl.password".into(), password.into()));
            let security = super::wire::ClientSecurity::from_properties(&properties).map_err(|e| e.to_string())?;
            match super::wire::Connection::bootstrap_with(&brokers, "runnel-chat-sign-in", &security) {
                Ok(_) => Ok(true),
                Err(e) if e.downcast_ref::<super::wire::SignInRefused>().is_some() => Ok(false),
                Err(e) => Err(format!("the cluster could not check the password: {e:#}")),
            }
        }))
    } else {
        None
    };
    Ok(Some(runnel_chat::auth::Auth::new(check, issued)))
}

type Embedded = (Arc<Broker>, tokio::task::JoinHandle<()>);

/// The store on the given brokers, the local broker, or an embedded broker started here.
async fn connect(args: &ChatArgs) -> anyhow::Result<(ChatStore, Option<Embedded>)> {
    if let Some(brokers) = &args.brokers {
        return Ok((ChatStore::connect_with(brokers, &args.properties)?, None));
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
