//! `authproxy_policy_decisions_total{rule, decision}`: every decision of the per-route policy
//! (docs/policy.md), by the rule that made it (`(default)` when no rule did, `(unmatchable)`
//! for a path that cannot be matched safely or a forward-auth check without a trusted original
//! URI), and `authproxy_policy_audit_lines_dropped_total`.
//!
//! Decisions happen on every request, so the counters are atomics indexed by rule, created
//! with the compiled policy (the rule names come from the configuration: a bounded set).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::FmtResult;

/// The label of decisions no rule made.
pub const POLICY_DEFAULT_LABEL: &str = "(default)";
/// The label of requests whose path cannot be matched.
pub const POLICY_UNMATCHABLE_LABEL: &str = "(unmatchable)";

/// The counters of one compiled policy.
#[derive(Debug)]
pub struct PolicyCounters {
    /// Rule names, then [`POLICY_DEFAULT_LABEL`], then [`POLICY_UNMATCHABLE_LABEL`].
    labels: Box<[Box<str>]>,
    /// `[allow, deny]` per label.
    counts: Box<[[AtomicU64; 2]]>,
    audit_dropped: AtomicU64,
}

impl PolicyCounters {
    /// Counters for these rules (in order), every series at 0.
    pub fn new<'a>(rules: impl IntoIterator<Item = &'a str>) -> Arc<PolicyCounters> {
        let labels: Box<[Box<str>]> = rules
            .into_iter()
            .map(Box::from)
            .chain([
                Box::from(POLICY_DEFAULT_LABEL),
                Box::from(POLICY_UNMATCHABLE_LABEL),
            ])
            .collect();
        let counts = labels.iter().map(|_| Default::default()).collect();
        Arc::new(PolicyCounters {
            labels,
            counts,
            audit_dropped: AtomicU64::new(0),
        })
    }

    /// The slot of the default decision (rules are `0..default_slot()`).
    pub fn default_slot(&self) -> usize {
        self.labels.len() - 2
    }

    /// The slot of unmatchable requests.
    pub fn unmatchable_slot(&self) -> usize {
        self.labels.len() - 1
    }

    /// Count one decision.
    pub fn record(&self, slot: usize, allowed: bool) {
        if let Some(c) = self.counts.get(slot) {
            c[usize::from(!allowed)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The count so far (tests, `policy explain`).
    pub fn count(&self, slot: usize, allowed: bool) -> u64 {
        self.counts
            .get(slot)
            .map_or(0, |c| c[usize::from(!allowed)].load(Ordering::Relaxed))
    }

    /// An audit line was dropped because the audit file's writer fell behind.
    pub fn audit_dropped(&self) {
        self.audit_dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Encodes a [`PolicyCounters`].
#[derive(Debug)]
pub(super) struct PolicyCollector(pub(super) Arc<PolicyCounters>);

impl Collector for PolicyCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> FmtResult {
        let p = &self.0;
        {
            let mut family = encoder.encode_descriptor(
                "authproxy_policy_decisions",
                "Decisions of the per-route policy, by deciding rule and decision.",
                None,
                MetricType::Counter,
            )?;
            for (label, counts) in p.labels.iter().zip(p.counts.iter()) {
                for (decision, c) in ["allow", "deny"].iter().zip(counts) {
                    let n = c.load(Ordering::Relaxed);
                    family
                        .encode_family(&[("rule", &**label), ("decision", *decision)])?
                        .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
                }
            }
        }
        let mut e = encoder.encode_descriptor(
            "authproxy_policy_audit_lines_dropped",
            "Policy audit log lines dropped because the audit file could not keep up.",
            None,
            MetricType::Counter,
        )?;
        let n = p.audit_dropped.load(Ordering::Relaxed);
        e.encode_counter::<NoLabelSet, _, u64>(&n, None)
    }
}
