//! Call quality as people would rate it: a MOS estimate from the simplified E-model
//! (ITU-T G.107 as reduced by Algorithm::MOS, which baresip uses: effective latency =
//! RTT + 2 × jitter + 10 ms; R = 93.2 − latency penalty − 2.5 × loss %), with its
//! test vectors. Twilio warns at MOS < 3.5, jitter > 30 ms, loss > 3 %, RTT > 400 ms.

use serde::Serialize;

/// One look at a call's quality.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quality {
    pub jitter_ms: f64,
    pub loss_percent: f64,
    /// Round-trip time, when RTCP told us.
    pub rtt_ms: Option<f64>,
    pub r_factor: f64,
    pub mos: f64,
    pub packets_received: u64,
    pub packets_concealed: u64,
}

impl Quality {
    pub fn new(
        rtt_ms: Option<f64>,
        jitter_ms: f64,
        loss_percent: f64,
        packets_received: u64,
        packets_concealed: u64,
    ) -> Self {
        let (r_factor, mos) = mos(rtt_ms.unwrap_or(0.0), jitter_ms, loss_percent);
        Self {
            jitter_ms,
            loss_percent,
            rtt_ms,
            r_factor,
            mos,
            packets_received,
            packets_concealed,
        }
    }

    /// Whether the agent should be told the line is poor (Twilio's thresholds).
    pub fn degraded(&self) -> bool {
        self.mos < 3.5
            || self.jitter_ms > 30.0
            || self.loss_percent > 3.0
            || self.rtt_ms.is_some_and(|rtt| rtt > 400.0)
    }
}

/// (R-factor, MOS) for a round-trip time and jitter in milliseconds and a loss in percent.
pub fn mos(rtt_ms: f64, jitter_ms: f64, loss_percent: f64) -> (f64, f64) {
    let latency = rtt_ms + 2.0 * jitter_ms + 10.0;
    let mut r = if latency < 160.0 {
        93.2 - latency / 40.0
    } else {
        93.2 - (latency - 120.0) / 10.0
    };
    r -= 2.5 * loss_percent;
    let r = r.max(0.0);
    let mos = (1.0 + 0.035 * r + 0.000_007 * r * (r - 60.0) * (100.0 - r)).clamp(1.0, 5.0);
    (r, mos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_baresips_vectors() {
        // baresip test/mos.c: (rtt, jitter, loss %) -> (R, MOS).
        for (rtt, jitter, loss, r, m) in [
            (0.0, 0.0, 0.0, 92.95, 4.404),
            (500.0, 0.0, 0.0, 54.20, 2.796),
            (0.0, 100.0, 0.0, 84.20, 4.172),
            (0.0, 200.0, 0.0, 64.20, 3.315),
            (0.0, 0.0, 1.0, 90.45, 4.350),
            (0.0, 0.0, 10.0, 67.95, 3.499),
        ] {
            let (got_r, got_m) = mos(rtt, jitter, loss);
            assert!(
                (got_r - r).abs() < 0.001,
                "R({rtt},{jitter},{loss}) = {got_r}"
            );
            assert!(
                (got_m - m).abs() < 0.001,
                "MOS({rtt},{jitter},{loss}) = {got_m}"
            );
        }
        // baresip's 1000 ms vector gives 0.990: below the scale; ours keeps MOS ≥ 1.
        assert!((mos(1000.0, 0.0, 0.0).1 - 1.0).abs() < 1e-9);
    }

    #[test]
    fn twenty_percent_loss_is_a_poor_call() {
        let q = Quality::new(None, 2.0, 20.0, 400, 100);
        assert!(q.mos < 3.0 && q.degraded(), "{q:?}");
        assert!(!Quality::new(Some(20.0), 2.0, 0.0, 400, 0).degraded());
    }
}
