//! Writing metric families with prometheus-client's encoder: the few shapes runnel's scrapes
//! use (labelled counters and gauges), so each metric is one call.

use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// A sample's labels, in the order they are written.
pub type Labels = Vec<(&'static str, String)>;

/// Labels from name-value pairs.
pub fn labels<const N: usize>(pairs: [(&'static str, String); N]) -> Labels {
    pairs.into()
}

/// Writes one family: `samples` of (labels, value) under `name`.
pub fn family<V: Copy>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (Labels, V)>,
    write: impl Fn(V, MetricEncoder) -> Result<(), std::fmt::Error>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in samples {
        write(value, metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes a counter family.
pub fn counters(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, u64)>,
) -> Result<(), std::fmt::Error> {
    family(encoder, name, help, MetricType::Counter, samples, |v, e| ConstCounter::new(v).encode(e))
}

/// Writes a gauge family.
pub fn gauges<V: EncodeGaugeValue + Copy + std::fmt::Debug + Send + Sync + 'static>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, V)>,
) -> Result<(), std::fmt::Error>
where
    ConstGauge<V>: EncodeMetric,
{
    family(encoder, name, help, MetricType::Gauge, samples, |v, e| ConstGauge::new(v).encode(e))
}
