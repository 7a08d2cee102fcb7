//! The accept loops: `run_listeners(sockets, broker, shutdown)` serves every listener until
//! `shutdown` completes, then lets connections finish their current request, flushes every
//! log and writes the clean-shutdown marker.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::broker::{Broker, BrokerError, now_ms};
use crate::connection;
use crate::listener::Listener;

/// How long connections get to finish after shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves Kafka clients on `listener`, the broker's only listener, until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    broker: Arc<Broker>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BrokerError> {
    run_listeners(vec![listener], broker, shutdown).await
}

/// Serves Kafka clients on `sockets`, one per listener of the broker in order, until
/// `shutdown` resolves.
pub async fn run_listeners(
    sockets: Vec<TcpListener>,
    broker: Arc<Broker>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BrokerError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let retention = tokio::spawn(retention_loop(broker.clone(), stop_rx.clone()));
    let recovery_checkpoints = tokio::spawn(recovery_checkpoint_loop(broker.clone(), stop_rx.clone()));
    let cleaner = tokio::spawn(cleaner_loop(broker.clone(), stop_rx.clone()));
    let group_timer = tokio::spawn(group_timer_loop(broker.clone(), stop_rx.clone()));
    match broker.transactions.finish_pending(&*broker, &broker.metrics).await {
        Ok(0) => {}
        Ok(_) => broker.notify_data_arrived(),
        Err(e) => tracing::error!(error = %e, "could not finish the transaction endings a restart interrupted"),
    }
    if !broker.unsynced_writes_survived {
        let aborted = broker.transactions.abort_open_after_power_loss(&*broker, &broker.metrics).await;
        if aborted > 0 {
            tracing::warn!(
                aborted,
                "the machine restarted since the broker stopped uncleanly: aborted every open transaction, whose records not yet fsynced may be lost; their producers are fenced"
            );
            broker.notify_data_arrived();
        }
    }
    let mut partitions: Vec<_> = broker.topics.all().iter().flat_map(|t| t.partitions.iter().cloned()).collect();
    partitions.push(broker.groups.log_partition());
    match broker.transactions.abort_unrecorded(&partitions, &*broker, &broker.metrics).await {
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "could not end the transactions the transaction log lost"),
    }
    let transaction_timer = tokio::spawn(transaction_timer_loop(broker.clone(), stop_rx.clone()));
    let mut connections = JoinSet::new();
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::channel(64);
    let acceptors: Vec<_> = sockets
        .into_iter()
        .zip(broker.listeners.iter().cloned())
        .map(|(socket, listener)| tokio::spawn(accept_loop(socket, listener, accepted_tx.clone())))
        .collect();
    tokio::pin!(shutdown);
    // Refusals are logged at most once a second: a client retrying in a loop must not flood the log.
    let mut refusals_logged = std::time::Instant::now() - Duration::from_secs(1);
    loop {
        tokio::select! {
            Some((stream, peer, listener)) = accepted.recv() => {
                match broker.connection_limits.admit(peer.ip()) {
                    Ok(admitted) => {
                        let serve = connection::serve(broker.clone(), listener, stream, peer, stop_rx.clone());
                        connections.spawn(async move {
                            serve.await;
                            drop(admitted);
                        });
                    }
                    Err(reason) => {
                        broker.metrics.connections_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if refusals_logged.elapsed() >= Duration::from_secs(1) {
                            tracing::warn!(%peer, reason, "refusing a connection (closed at once)");
                            refusals_logged = std::time::Instant::now();
                        }
                        drop(stream);
                    }
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down: finishing requests in flight");
    for acceptor in &acceptors {
        acceptor.abort();
    }
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        connections.abort_all();
    }
    retention.abort();
    recovery_checkpoints.abort();
    cleaner.abort();
    group_timer.abort();
    transaction_timer.abort();
    let broker_for_close = broker.clone();
    tokio::task::spawn_blocking(move || broker_for_close.shutdown())
        .await
        .map_err(|e| BrokerError::Io { action: "shut down".into(), source: std::io::Error::other(e.to_string()) })??;
    tracing::info!("logs flushed; clean shutdown");
    Ok(())
}

/// Accepts connections on one listener's socket and hands them to the serving loop.
async fn accept_loop(
    socket: TcpListener,
    listener: Arc<Listener>,
    accepted: tokio::sync::mpsc::Sender<(TcpStream, SocketAddr, Arc<Listener>)>,
) {
    loop {
        match socket.accept().await {
            Ok((stream, peer)) => {
                if accepted.send((stream, peer, listener.clone())).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(listener = %listener.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn retention_loop(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let interval = Duration::from_millis(broker.config.retention_check_interval_ms.max(100));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        let broker = broker.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let now = now_ms();
            for topic in broker.topics.all() {
                for partition in &topic.partitions {
                    match partition.apply_retention(now) {
                        Ok(0) => {}
                        Ok(deleted) => tracing::info!(topic = topic.name(), partition = partition.index(), deleted, "retention deleted segments"),
                        Err(e) => tracing::error!(topic = topic.name(), partition = partition.index(), error = %e, "retention failed"),
                    }
                }
            }
        })
        .await;
    }
}

/// Runs the log cleaner every `log.cleaner.backoff.ms` over the compacted topics.
async fn cleaner_loop(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    if !broker.config.cleaner.enable {
        return;
    }
    loop {
        // Kafka's dynamic cleaner settings apply from the next round.
        let settings = broker.config.cleaner.with_dynamic(&broker.topics.dynamic_configs());
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(settings.backoff_ms.max(10))) => {}
            _ = stop.changed() => return,
        }
        let broker = broker.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let internal = [broker.groups.log(), broker.transactions.log()];
            for done in broker.cleaner.run_round(&broker.topics, &internal, &settings, now_ms()) {
                let s = done.stats;
                tracing::info!(topic = %done.topic, partition = done.partition, cleaned_to = s.cleaned_to, read_bytes = s.bytes_read, written_bytes = s.bytes_written, records_removed = s.records_removed, took_ms = done.took_ms, "log cleaned");
            }
        })
        .await;
    }
}

/// Every `log.flush.offset.checkpoint.interval.ms` (Kafka's name for the same duty): fsyncs
/// what acks=0/1 produces left in the page cache (through the same group-commit path as
/// acks=all), then writes recovery checkpoints, so that a restart after a crash checks only
/// what came since.
async fn recovery_checkpoint_loop(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let interval = Duration::from_millis(broker.config.recovery_checkpoint_interval_ms.max(10));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        for topic in broker.topics.all() {
            for partition in &topic.partitions {
                let (_, end) = partition.offsets();
                if partition.flushed_offset() < end
                    && !partition.is_offline()
                    && let Err(e) = partition.flush_to(end, &broker.metrics).await
                {
                    tracing::error!(topic = topic.name(), partition = partition.index(), error = %e, "periodic flush failed");
                }
            }
        }
        let broker = broker.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            match broker.topics.checkpoint_recovery_points(broker.config.recovery_checkpoint_min_bytes) {
                Ok(0) => {}
                Ok(partitions) => {
                    tracing::debug!(
                        partitions,
                        took_ms = started.elapsed().as_millis() as u64,
                        "recovery checkpoints written"
                    )
                }
                Err(e) => tracing::warn!(error = %e, "could not write the recovery points"),
            }
        })
        .await;
    }
}

/// Aborts transactions open past their timeout and finishes endings whose markers failed, every
/// `transaction.abort.timed.out.transaction.cleanup.interval.ms`, and forgets transactional ids
/// idle past `transactional.id.expiration.ms`, every
/// `transaction.remove.expired.transaction.cleanup.interval.ms`.
async fn transaction_timer_loop(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let interval = Duration::from_millis(broker.config.transaction_abort_interval_ms.max(10));
    let removal_interval = Duration::from_millis(broker.config.transaction_remove_expired_interval_ms.max(10));
    let mut last_removal = tokio::time::Instant::now();
    loop {
        let next_removal = last_removal + removal_interval;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::time::sleep_until(next_removal) => {}
            _ = stop.changed() => return,
        }
        if broker.transactions.abort_expired(&*broker, &broker.metrics).await > 0 {
            broker.notify_data_arrived();
        }
        // Endings whose markers could not be written (a full disk, say) are retried.
        match broker.transactions.finish_pending(&*broker, &broker.metrics).await {
            Ok(0) => {}
            Ok(_) => broker.notify_data_arrived(),
            Err(e) => tracing::warn!(error = %e, "a transaction's markers still cannot be written; retrying"),
        }
        if tokio::time::Instant::now() >= next_removal {
            last_removal = tokio::time::Instant::now();
            let expiration = broker.config.transactional_id_expiration_ms;
            match broker.transactions.remove_expired_ids(expiration, &broker.metrics).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(removed = n, "forgot transactional ids idle past transactional.id.expiration.ms")
                }
                Err(e) => tracing::error!(error = %e, "could not remove expired transactional ids"),
            }
        }
    }
}

/// How often group session timeouts, rebalance deadlines and offset retention are checked.
const GROUP_TIMER_INTERVAL: Duration = Duration::from_millis(100);

async fn group_timer_loop(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(GROUP_TIMER_INTERVAL) => {}
            _ = stop.changed() => return,
        }
        broker.groups.tick();
    }
}
