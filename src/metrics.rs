//! Operational metrics in the Prometheus text format (L0: counters and histograms in memory).
//!
//! Owns: the metric names and labels s3kms exports, and their exposition
//! (`text/plain; version=0.0.4`). Recording is a short critical section on a small map; label
//! values come from closed sets (operation names, status codes, KMS exception names, key ids),
//! so the number of series stays bounded by what the instance actually serves.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the request latency histogram.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The metrics of one s3kms instance.
#[derive(Default)]
pub struct Metrics {
    s3_requests: Mutex<BTreeMap<(String, u16), u64>>,
    s3_latency: Mutex<BTreeMap<String, Histogram>>,
    upstream_errors: Mutex<u64>,
    kms_operations: Mutex<BTreeMap<(&'static str, String, &'static str), u64>>,
    bytes_encrypted: Arc<AtomicU64>,
    bytes_decrypted: Arc<AtomicU64>,
    cache_lookups: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

#[derive(Default, Clone)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// One S3 request finished (its response head was sent).
    pub fn s3_request(&self, operation: &str, status: u16, elapsed: Duration) {
        if let Ok(mut requests) = self.s3_requests.lock() {
            *requests.entry((operation.to_owned(), status)).or_default() += 1;
        }
        if let Ok(mut latency) = self.s3_latency.lock() {
            let histogram = latency.entry(operation.to_owned()).or_default();
            let seconds = elapsed.as_secs_f64();
            for (bucket, bound) in histogram.buckets.iter_mut().zip(LATENCY_BUCKETS) {
                if seconds <= bound {
                    *bucket += 1;
                }
            }
            histogram.count += 1;
            histogram.sum += seconds;
        }
    }

    /// The upstream could not be reached or failed mid-request.
    pub fn upstream_error(&self) {
        if let Ok(mut errors) = self.upstream_errors.lock() {
            *errors += 1;
        }
    }

    /// One KMS operation finished; `outcome` is `ok` or the AWS exception name.
    pub fn kms_operation(&self, operation: &'static str, key_id: &str, outcome: &'static str) {
        if let Ok(mut operations) = self.kms_operations.lock() {
            *operations.entry((operation, key_id.to_owned(), outcome)).or_default() += 1;
        }
    }

    /// The counter of plaintext bytes sealed, for bodies to add to as they seal.
    pub fn bytes_encrypted(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.bytes_encrypted)
    }

    /// The counter of plaintext bytes opened (authenticated and released), for bodies to add to.
    pub fn bytes_decrypted(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.bytes_decrypted)
    }

    /// One lookup in the cache named `cache`.
    pub fn cache_lookup(&self, cache: &'static str, hit: bool) {
        if let Ok(mut lookups) = self.cache_lookups.lock() {
            *lookups.entry((cache, if hit { "hit" } else { "miss" })).or_default() += 1;
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP s3kms_s3_requests_total S3 requests answered, by operation and HTTP status.\n");
        out.push_str("# TYPE s3kms_s3_requests_total counter\n");
        if let Ok(requests) = self.s3_requests.lock() {
            for ((operation, status), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "s3kms_s3_requests_total{{operation=\"{operation}\",status=\"{status}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP s3kms_s3_request_duration_seconds Time to the response head of S3 requests.\n");
        out.push_str("# TYPE s3kms_s3_request_duration_seconds histogram\n");
        if let Ok(latency) = self.s3_latency.lock() {
            for (operation, histogram) in latency.iter() {
                for (count, bound) in histogram.buckets.iter().zip(LATENCY_BUCKETS) {
                    let _ = writeln!(
                        out,
                        "s3kms_s3_request_duration_seconds_bucket{{operation=\"{operation}\",le=\"{bound}\"}} {count}"
                    );
                }
                let _ = writeln!(
                    out,
                    "s3kms_s3_request_duration_seconds_bucket{{operation=\"{operation}\",le=\"+Inf\"}} {}",
                    histogram.count
                );
                let _ = writeln!(
                    out,
                    "s3kms_s3_request_duration_seconds_sum{{operation=\"{operation}\"}} {}",
                    histogram.sum
                );
                let _ = writeln!(
                    out,
                    "s3kms_s3_request_duration_seconds_count{{operation=\"{operation}\"}} {}",
                    histogram.count
                );
            }
        }
        out.push_str("# HELP s3kms_upstream_errors_total Upstream requests that failed before a response.\n");
        out.push_str("# TYPE s3kms_upstream_errors_total counter\n");
        let upstream = self.upstream_errors.lock().map(|e| *e).unwrap_or(0);
        let _ = writeln!(out, "s3kms_upstream_errors_total {upstream}");
        out.push_str("# HELP s3kms_kms_operations_total KMS operations, by operation, key and outcome.\n");
        out.push_str("# TYPE s3kms_kms_operations_total counter\n");
        if let Ok(operations) = self.kms_operations.lock() {
            for ((operation, key, outcome), count) in operations.iter() {
                let _ = writeln!(
                    out,
                    "s3kms_kms_operations_total{{operation=\"{operation}\",key=\"{}\",outcome=\"{outcome}\"}} {count}",
                    escape_label(key)
                );
            }
        }
        for (name, help, counter) in [
            (
                "s3kms_bytes_encrypted_total",
                "Plaintext bytes sealed into stored streams.",
                &self.bytes_encrypted,
            ),
            (
                "s3kms_bytes_decrypted_total",
                "Plaintext bytes authenticated and released to clients.",
                &self.bytes_decrypted,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
        }
        out.push_str("# HELP s3kms_cache_lookups_total Cache lookups, by cache and result (hit rate = hit / all).\n");
        out.push_str("# TYPE s3kms_cache_lookups_total counter\n");
        if let Ok(lookups) = self.cache_lookups.lock() {
            for ((cache, result), count) in lookups.iter() {
                let _ = writeln!(
                    out,
                    "s3kms_cache_lookups_total{{cache=\"{cache}\",result=\"{result}\"}} {count}"
                );
            }
        }
        out
    }
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_counts_and_buckets() {
        let metrics = Metrics::default();
        metrics.s3_request("GetObject", 200, Duration::from_millis(3));
        metrics.s3_request("GetObject", 200, Duration::from_millis(30));
        metrics.s3_request("PutObject", 403, Duration::from_micros(100));
        metrics.upstream_error();
        metrics.kms_operation("Decrypt", "k\"1", "AccessDeniedException");
        metrics.bytes_encrypted().fetch_add(70_000, Ordering::Relaxed);
        metrics.bytes_decrypted().fetch_add(1_000, Ordering::Relaxed);
        metrics.cache_lookup("multipart_layout", false);
        metrics.cache_lookup("multipart_layout", true);
        metrics.cache_lookup("multipart_layout", true);
        let text = metrics.render();
        assert!(text.contains("s3kms_bytes_encrypted_total 70000"), "{text}");
        assert!(text.contains("s3kms_bytes_decrypted_total 1000"), "{text}");
        assert!(
            text.contains("s3kms_cache_lookups_total{cache=\"multipart_layout\",result=\"hit\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("s3kms_cache_lookups_total{cache=\"multipart_layout\",result=\"miss\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("s3kms_s3_requests_total{operation=\"GetObject\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("s3kms_s3_request_duration_seconds_bucket{operation=\"GetObject\",le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("s3kms_s3_request_duration_seconds_bucket{operation=\"GetObject\",le=\"0.05\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("s3kms_s3_request_duration_seconds_count{operation=\"GetObject\"} 2"),
            "{text}"
        );
        assert!(text.contains("s3kms_upstream_errors_total 1"), "{text}");
        assert!(
            text.contains(
                "s3kms_kms_operations_total{operation=\"Decrypt\",key=\"k\\\"1\",outcome=\"AccessDeniedException\"} 1"
            ),
            "{text}"
        );
    }
}
