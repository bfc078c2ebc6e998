//! A/B tests of campaign texts: which variant a recipient gets, and whether one variant's
//! rate is really better than another's.
//!
//! The split is seeded with the campaign's id and keyed by the recipient's number through
//! FNV-1a, finished with MurmurHash3's 64-bit mixer (both fixed and documented: Rust's own
//! hasher may change between releases), so a re-run, another node or a restarted one
//! assigns every recipient the same variant. The mixer matters: FNV-1a alone gives numbers
//! that differ only in their last digits related results for different prefixes, which made
//! the test sample and the variant split depend on each other.

/// Which of the variants, by their shares in percent (adding up to 100), the recipient
/// `key` of the campaign `seed` gets. Always an index of `shares` (the last one when the
/// shares fall short of 100); 0 without shares.
pub fn variant_for(seed: &str, key: &str, shares: &[u32]) -> usize {
    if shares.is_empty() {
        return 0;
    }
    // A point in [0, 10000): hundredths of a percent.
    let point = fnv1a(&[seed.as_bytes(), b"\0", key.as_bytes()]) % 10_000;
    let mut upto = 0_u64;
    for (i, share) in shares.iter().enumerate() {
        upto += u64::from(*share) * 100;
        if point < upto {
            return i;
        }
    }
    shares.len() - 1
}

/// The text a campaign's recipient gets, and its variant's key: the campaign's own text
/// without an A/B test, else the variant the split seeded with the campaign's id gives.
pub fn text_for<'a>(
    campaign: &'a crate::resources::SmsCampaign,
    number: &str,
) -> (&'a str, Option<&'a str>) {
    if campaign.variants.is_empty() {
        return (&campaign.message, None);
    }
    let shares: Vec<u32> = campaign.variants.iter().map(|v| v.share).collect();
    let v = &campaign.variants[variant_for(&campaign.id, number, &shares)];
    (&v.message, Some(&v.key))
}

/// Whether a recipient `key` of the campaign `seed` is in the first `percent` of them
/// (a test sample), independently of the variant split.
pub fn in_sample(seed: &str, key: &str, percent: u32) -> bool {
    fnv1a(&[b"sample\0", seed.as_bytes(), b"\0", key.as_bytes()]) % 10_000
        < u64::from(percent) * 100
}

/// A hash of `parts` that is the same on every machine and every release: FNV-1a,
/// finished with MurmurHash3's mixer.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    fnv1a(parts)
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in *part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fmix64(hash)
}

/// MurmurHash3's finaliser: every input bit moves every output bit.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// Two variants' rates compared (successes of trials each): the difference `b - a` and the
/// two-sided p-value of the pooled two-proportion z-test (how likely a difference at least
/// this large is when both rates are really the same).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub rate_a: f64,
    pub rate_b: f64,
    pub difference: f64,
    pub z: f64,
    /// `None` when it cannot be told: a variant without trials, or no variance at all
    /// (both 0% or both 100%).
    pub p_value: Option<f64>,
}

/// The two-proportion z-test of `a` against `b`, each as (successes, trials).
pub fn compare(a: (u64, u64), b: (u64, u64)) -> Comparison {
    // Counts are far below 2^52: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    let (xa, na, xb, nb) = (a.0 as f64, a.1 as f64, b.0 as f64, b.1 as f64);
    let rate = |x: f64, n: f64| if n > 0.0 { x / n } else { 0.0 };
    let (rate_a, rate_b) = (rate(xa, na), rate(xb, nb));
    let difference = rate_b - rate_a;
    let untold = Comparison {
        rate_a,
        rate_b,
        difference,
        z: 0.0,
        p_value: None,
    };
    if na == 0.0 || nb == 0.0 {
        return untold;
    }
    let pooled = (xa + xb) / (na + nb);
    let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    if se == 0.0 {
        return untold;
    }
    let z = difference / se;
    // Two-sided: P(|Z| >= |z|) = erfc(|z| / sqrt 2).
    let p = libm::erfc(z.abs() / std::f64::consts::SQRT_2);
    Comparison {
        rate_a,
        rate_b,
        difference,
        z,
        p_value: Some(p.clamp(0.0, 1.0)),
    }
}

/// The winner among variants, each as (successes, trials): the highest rate, ties going
/// to the earlier variant; `None` without variants.
pub fn winner(results: &[(u64, u64)]) -> Option<usize> {
    // Compared as cross products: exact, no division.
    let better = |a: (u64, u64), b: (u64, u64)| {
        u128::from(a.0) * u128::from(b.1.max(1)) > u128::from(b.0) * u128::from(a.1.max(1))
    };
    let mut best: Option<usize> = None;
    for (i, r) in results.iter().enumerate() {
        match best {
            Some(b) if !better(*r, results[b]) => {}
            _ => best = Some(i),
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_follows_the_shares_and_never_changes() {
        let shares = [50, 30, 20];
        let mut counts = [0_u32; 3];
        for i in 0..10_000 {
            let number = format!("+1415555{i:04}");
            let v = variant_for("campaign-1", &number, &shares);
            assert_eq!(v, variant_for("campaign-1", &number, &shares), "stable");
            counts[v] += 1;
        }
        // Within two percentage points of each share on 10,000 numbers.
        for (count, share) in counts.iter().zip(shares) {
            let pct = f64::from(*count) / 100.0;
            assert!((pct - f64::from(share)).abs() < 2.0, "{counts:?}");
        }
        // Another campaign splits the same numbers differently.
        let moved = (0..1000)
            .filter(|i| {
                let n = format!("+1415555{i:04}");
                variant_for("campaign-1", &n, &[50, 50]) != variant_for("campaign-2", &n, &[50, 50])
            })
            .count();
        assert!((400..600).contains(&moved), "{moved}");
        assert_eq!(variant_for("c", "n", &[]), 0);
        assert_eq!(variant_for("c", "n", &[100]), 0);
    }

    #[test]
    fn a_known_two_proportion_test() {
        // 120 of 1,000 against 150 of 1,000: pooled 0.135, standard error
        // sqrt(0.135 * 0.865 * 2/1000) = 0.015282, z = 1.9630, two-sided p = 0.0496.
        let c = compare((120, 1000), (150, 1000));
        assert!((c.difference - 0.03).abs() < 1e-12);
        assert!((c.z - 1.9630).abs() < 1e-3, "{c:?}");
        assert!((c.p_value.unwrap() - 0.0496).abs() < 1e-3, "{c:?}");
        // A large sample makes the same difference significant.
        assert!(compare((1200, 10_000), (1500, 10_000)).p_value.unwrap() < 1e-6);
        assert_eq!(compare((0, 0), (1, 10)).p_value, None);
        assert_eq!(compare((0, 10), (0, 10)).p_value, None);
    }

    #[test]
    fn the_winner_has_the_best_rate_and_ties_go_first() {
        assert_eq!(winner(&[(10, 100), (15, 100), (3, 10)]), Some(2));
        assert_eq!(winner(&[(10, 100), (1, 10)]), Some(0));
        assert_eq!(winner(&[(0, 0), (0, 5)]), Some(0));
        assert_eq!(winner(&[]), None);
    }

    #[test]
    fn samples_are_their_share_and_apart_from_the_split() {
        let numbers: Vec<String> = (0..10_000).map(|i| format!("+1415555{i:04}")).collect();
        let sampled: Vec<&String> = numbers.iter().filter(|n| in_sample("c", n, 20)).collect();
        assert!((1800..2200).contains(&sampled.len()), "{}", sampled.len());
        // Within the sample, the split still follows its shares.
        let a = sampled
            .iter()
            .filter(|n| variant_for("c", n, &[50, 50]) == 0)
            .count();
        let share = a as f64 / sampled.len() as f64;
        assert!((0.45..0.55).contains(&share), "{share}");
    }
}
