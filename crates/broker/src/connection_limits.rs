//! Kafka's connection quotas: `max.connections.per.ip` (with `max.connections.per.ip.overrides`,
//! `host:count` pairs) and `max.connections` for the whole broker. A connection over a limit is
//! closed as soon as it is accepted, logged with the reason and counted, so one client cannot
//! take every file descriptor from the others.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The limits, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimitSettings {
    /// `max.connections.per.ip` (Kafka's default: unlimited).
    pub per_ip: usize,
    /// `max.connections.per.ip.overrides`: other limits for some addresses.
    pub per_ip_overrides: HashMap<IpAddr, usize>,
    /// `max.connections` (Kafka's default: unlimited).
    pub total: usize,
}

impl Default for ConnectionLimitSettings {
    fn default() -> Self {
        ConnectionLimitSettings { per_ip: usize::MAX, per_ip_overrides: HashMap::new(), total: usize::MAX }
    }
}

impl ConnectionLimitSettings {
    /// Parses `max.connections.per.ip.overrides`: `host:count` pairs separated by commas.
    pub fn parse_overrides(value: &str) -> Result<HashMap<IpAddr, usize>, String> {
        let mut overrides = HashMap::new();
        for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (host, count) = pair.rsplit_once(':').ok_or_else(|| format!("{pair}: expected host:count"))?;
            let ip: IpAddr =
                host.trim_matches(['[', ']']).parse().map_err(|_| format!("{host} is not an IP address"))?;
            let count = count.parse().map_err(|_| format!("{count} is not a number"))?;
            overrides.insert(ip, count);
        }
        Ok(overrides)
    }

    fn limit_for(&self, ip: IpAddr) -> usize {
        self.per_ip_overrides.get(&ip).copied().unwrap_or(self.per_ip)
    }
}

/// Open connections per address, counted against the limits.
#[derive(Debug)]
pub struct ConnectionLimits {
    settings: ConnectionLimitSettings,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// A counted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Admitted {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|p| p.into_inner());
        open.0 = open.0.saturating_sub(1);
        if let Some(count) = open.1.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

impl ConnectionLimits {
    /// Counting against `settings`.
    pub fn new(settings: ConnectionLimitSettings) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits { settings, open: Mutex::new((0, HashMap::new())) })
    }

    /// Admits a connection from `ip`, or says which limit it is over.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, String> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.0 >= self.settings.total {
            return Err(format!("max.connections={} reached", self.settings.total));
        }
        let limit = self.settings.limit_for(ip);
        let from_ip = open.1.get(&ip).copied().unwrap_or(0);
        if from_ip >= limit {
            return Err(format!("max.connections.per.ip={limit} reached for {ip}"));
        }
        open.0 += 1;
        open.1.insert(ip, from_ip + 1);
        Ok(Admitted { limits: self.clone(), ip })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_limit_and_closing_frees_a_place() {
        let settings = ConnectionLimitSettings {
            per_ip: 2,
            per_ip_overrides: ConnectionLimitSettings::parse_overrides("10.0.0.9:0, 127.0.0.1:3").unwrap(),
            total: 4,
        };
        let limits = ConnectionLimits::new(settings);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let first = limits.admit(a).unwrap();
        let _second = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), "max.connections.per.ip=2 reached for 10.0.0.1");
        drop(first);
        let _third = limits.admit(a).unwrap();
        assert!(limits.admit("10.0.0.9".parse().unwrap()).is_err(), "an override of 0 refuses every connection");
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let _l1 = limits.admit(local).unwrap();
        let _l2 = limits.admit(local).unwrap();
        assert_eq!(limits.admit(local).unwrap_err(), "max.connections=4 reached");
        assert!(ConnectionLimitSettings::parse_overrides("nohost").is_err());
    }
}
