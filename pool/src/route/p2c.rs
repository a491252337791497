//! The power-of-two-choices draw: of two random candidates, the less loaded.
//!
//! Two distinct candidates are drawn with the pool's seeded RNG and the one
//! with fewer in-flight RPCs wins (ties go to the first draw). This spreads
//! load nearly as well as scanning for the global minimum, without herding
//! every caller onto the same "least loaded" connection at once.

use rand::Rng;

/// Picks an index into `len` candidates whose loads `load(i)` gives.
pub(crate) fn two_choices(
    len: usize,
    load: impl Fn(usize) -> usize,
    rng: &mut impl Rng,
) -> Option<usize> {
    match len {
        0 => None,
        1 => Some(0),
        _ => {
            let a = rng.random_range(0..len);
            // Draw from the other len-1 slots so a and b differ.
            let mut b = rng.random_range(0..len - 1);
            if b >= a {
                b += 1;
            }
            debug_assert!(a != b && a < len && b < len);
            Some(if load(b) < load(a) { b } else { a })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn empty_and_single() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(two_choices(0, |_| 0, &mut rng), None);
        assert_eq!(two_choices(1, |_| 9, &mut rng), Some(0));
    }

    #[test]
    fn never_picks_the_busiest_of_many() {
        // With two distinct draws, the single most loaded candidate can only
        // win if both draws hit it, which distinct draws forbid.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let loads = [5, 5, 100, 5];
        for _ in 0..1000 {
            let i = two_choices(loads.len(), |i| loads[i], &mut rng).unwrap();
            assert_ne!(i, 2);
        }
    }

    #[test]
    fn prefers_lighter_of_two() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let loads = [7, 1];
        for _ in 0..100 {
            assert_eq!(two_choices(2, |i| loads[i], &mut rng), Some(1));
        }
    }
}
