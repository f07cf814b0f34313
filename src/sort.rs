//! The one sort the Worker uses: a stable insertion sort.
//!
//! Every list sorted here is short or arrives almost in order (path tokens, the characters of a
//! name, a help answer's sources, an archive's parts, rows read `ORDER BY id`). The standard
//! library's stable sort is faster on long shuffled input, but each element type it sorts is a
//! separate copy of it in the wasm (4 to 5 KiB apiece); this one is a few hundred bytes.

use std::cmp::Ordering;

/// Sorts `v` by `compare`, keeping equal elements in their order (like `slice::sort_by`).
/// Quadratic in the worst case, linear on input already in order.
pub fn sort_by<T>(v: &mut [T], mut compare: impl FnMut(&T, &T) -> Ordering) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && compare(&v[j - 1], &v[j]) == Ordering::Greater {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Sorts `v` by `key`, keeping elements with equal keys in their order (like
/// `slice::sort_by_key`).
pub fn sort_by_key<T, K: Ord>(v: &mut [T], mut key: impl FnMut(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic shuffle with many ties.
    fn pairs(n: u64) -> Vec<(u64, u64)> {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 7, i)
            })
            .collect()
    }

    #[test]
    fn sorts_like_the_standard_stable_sort() {
        for n in [0, 1, 2, 3, 10, 100, 1000] {
            let mut ours = pairs(n);
            let mut std = ours.clone();
            sort_by_key(&mut ours, |p| p.0);
            std.sort_by_key(|p| p.0);
            assert_eq!(ours, std, "n = {n}");

            let mut ours = pairs(n);
            let mut std = ours.clone();
            sort_by(&mut ours, |a, b| b.0.cmp(&a.0));
            std.sort_by_key(|p| std::cmp::Reverse(p.0));
            assert_eq!(ours, std, "n = {n}, descending");
        }
    }
}
