//! Which of a pool of the tenant's numbers texts a campaign's recipient: the number that
//! texted them before (a contact always hears from the same number), else one of the same
//! area code (NANP: recipients answer local numbers more readily), else one of the same
//! country, else any; among equals, by a hash of the recipient's number, so that the choice
//! is the same on every node and every run.

/// A pool number: its id and E.164 form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolNumber<'a> {
    pub id: &'a str,
    pub number: &'a str,
}

/// The area code of a NANP number (`+1` and three digits), if it is one.
pub fn nanp_area_code(e164: &str) -> Option<&str> {
    let rest = e164.strip_prefix("+1")?;
    (rest.len() == 10 && rest.bytes().all(|b| b.is_ascii_digit())).then(|| &rest[..3])
}

/// The pool number for `recipient`: `sticky` when it is in the pool (the one that texted
/// them last), else by area code, country and hash. `None` for an empty pool.
pub fn choose<'a>(
    recipient: &str,
    pool: &[PoolNumber<'a>],
    sticky: Option<&str>,
) -> Option<PoolNumber<'a>> {
    if let Some(id) = sticky
        && let Some(p) = pool.iter().find(|p| p.id == id)
    {
        return Some(*p);
    }
    let spread = |candidates: Vec<PoolNumber<'a>>| -> Option<PoolNumber<'a>> {
        if candidates.is_empty() {
            return None;
        }
        let n = u64::try_from(candidates.len()).unwrap_or(1);
        let i = usize::try_from(stable_hash(recipient) % n).unwrap_or(0);
        Some(candidates[i])
    };
    if let Some(code) = nanp_area_code(recipient) {
        let local: Vec<PoolNumber<'a>> = pool
            .iter()
            .filter(|p| nanp_area_code(p.number) == Some(code))
            .copied()
            .collect();
        if let Some(p) = spread(local) {
            return Some(p);
        }
    }
    let country = crate::phone::region_of(recipient);
    let same_country: Vec<PoolNumber<'a>> = pool
        .iter()
        .filter(|p| country.is_some() && crate::phone::region_of(p.number) == country)
        .copied()
        .collect();
    spread(same_country).or_else(|| spread(pool.to_vec()))
}

fn stable_hash(text: &str) -> u64 {
    crate::ab::stable_hash(&[b"sender\0", text.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    const POOL: [PoolNumber<'static>; 4] = [
        PoolNumber {
            id: "sf",
            number: "+14155550100",
        },
        PoolNumber {
            id: "ny1",
            number: "+12125550100",
        },
        PoolNumber {
            id: "ny2",
            number: "+12125550199",
        },
        PoolNumber {
            id: "uk",
            number: "+442071838750",
        },
    ];

    #[test]
    fn the_number_that_texted_them_before_keeps_them() {
        assert_eq!(choose("+12125550123", &POOL, Some("sf")).unwrap().id, "sf");
        // A sticky number no longer in the pool does not count.
        assert_eq!(
            choose("+14155550123", &POOL, Some("gone")).unwrap().id,
            "sf"
        );
    }

    #[test]
    fn an_area_code_then_a_country_then_anyone() {
        assert_eq!(choose("+14155550123", &POOL, None).unwrap().id, "sf");
        let ny = choose("+12125550123", &POOL, None).unwrap().id;
        assert!(ny == "ny1" || ny == "ny2", "{ny}");
        assert_eq!(
            ny,
            choose("+12125550123", &POOL, None).unwrap().id,
            "stable"
        );
        // Both New York numbers share the city's recipients.
        let firsts = (0..200)
            .filter(|i| choose(&format!("+1212555{i:04}"), &POOL, None).unwrap().id == "ny1")
            .count();
        assert!((60..140).contains(&firsts), "{firsts}");
        // Chicago has no local number: a US one.
        let us = choose("+13125550123", &POOL, None).unwrap().id;
        assert!(["sf", "ny1", "ny2"].contains(&us), "{us}");
        assert_eq!(choose("+447400123456", &POOL, None).unwrap().id, "uk");
        // France: no number of its own, any will do.
        assert!(choose("+33612345678", &POOL, None).is_some());
        assert_eq!(choose("+14155550123", &[], None), None);
        assert_eq!(nanp_area_code("+14155550123"), Some("415"));
        assert_eq!(nanp_area_code("+442071838750"), None);
    }
}
