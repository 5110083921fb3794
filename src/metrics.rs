//! Prometheus metrics: intake, duplicates, outbox lag, deliveries, failures.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of intake counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IntakeLabels {
    /// Channel instance.
    pub channel: String,
    /// `stored`, `replay`, `unauthorized`, `invalid`, `error`.
    pub result: &'static str,
}

/// Labels of delivery counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// Sink name.
    pub sink: String,
    /// `delivered`, `retry`, `dead`.
    pub result: &'static str,
}

/// Labels of duplicate counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TierLabels {
    /// `1` (transport replay) or `2` (same reporter, same content).
    pub tier: &'static str,
}

/// Labels of failure counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    /// Where it failed: `intake`, `dispatch`, `seal`.
    pub stage: &'static str,
}

/// All metrics of one process.
pub struct Metrics {
    registry: Registry,
    /// Inbound messages by channel and result.
    pub intake: Family<IntakeLabels, Counter>,
    /// Duplicates found, by tier.
    pub duplicates: Family<TierLabels, Counter>,
    /// Delivery attempts by sink and result.
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// Failures by stage.
    pub failures: Family<StageLabels, Counter>,
    /// Webhook handling time in seconds.
    pub intake_seconds: Histogram,
    /// Pending deliveries (set on scrape).
    pub outbox_pending: Gauge,
    /// Dead deliveries (set on scrape).
    pub outbox_dead: Gauge,
    /// Age in seconds of the oldest pending delivery (set on scrape).
    pub outbox_lag_seconds: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("salur");
        let intake = Family::<IntakeLabels, Counter>::default();
        registry.register(
            "intake_messages",
            "Inbound messages by channel and result",
            intake.clone(),
        );
        let duplicates = Family::<TierLabels, Counter>::default();
        registry.register(
            "duplicates",
            "Duplicates found, by tier",
            duplicates.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Outbox delivery attempts by sink and result",
            deliveries.clone(),
        );
        let failures = Family::<StageLabels, Counter>::default();
        registry.register("failures", "Failures by stage", failures.clone());
        let intake_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "intake_duration_seconds",
            "Webhook handling time",
            intake_seconds.clone(),
        );
        let outbox_pending = Gauge::default();
        registry.register(
            "outbox_pending",
            "Deliveries waiting to be sent",
            outbox_pending.clone(),
        );
        let outbox_dead = Gauge::default();
        registry.register(
            "outbox_dead",
            "Deliveries given up after the last retry",
            outbox_dead.clone(),
        );
        let outbox_lag_seconds = Gauge::default();
        registry.register(
            "outbox_lag_seconds",
            "Age of the oldest pending delivery",
            outbox_lag_seconds.clone(),
        );
        Self {
            registry,
            intake,
            duplicates,
            deliveries,
            failures,
            intake_seconds,
            outbox_pending,
            outbox_dead,
            outbox_lag_seconds,
        }
    }

    /// Counts one inbound message.
    pub fn intake(&self, channel: &str, result: &'static str) {
        self.intake
            .get_or_create(&IntakeLabels {
                channel: channel.to_owned(),
                result,
            })
            .inc();
    }

    /// Counts one claimed message: stored, or a replay (tier 1); `tier2`
    /// when it was also found to repeat an earlier complaint.
    pub fn stored(&self, channel: &str, replay: bool, tier2: bool) {
        if replay {
            self.intake(channel, "replay");
            self.duplicates
                .get_or_create(&TierLabels { tier: "1" })
                .inc();
        } else {
            self.intake(channel, "stored");
            if tier2 {
                self.duplicates
                    .get_or_create(&TierLabels { tier: "2" })
                    .inc();
            }
        }
    }

    /// Counts one delivery attempt.
    pub fn delivery(&self, sink: &str, result: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                sink: sink.to_owned(),
                result,
            })
            .inc();
    }

    /// Counts one failure.
    pub fn failure(&self, stage: &'static str) {
        self.failures.get_or_create(&StageLabels { stage }).inc();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
