//! Tests of `projection`, beside it so that the module reads as the code it is.

use super::{bucket_middle, close_bucket};

#[test]
fn close_buckets_sort_like_the_times_and_stay_close_to_them() {
    let times = [
        0,
        1,
        9,
        10,
        99,
        100,
        999,
        1_000,
        1_005,
        9_999,
        10_000,
        123_456,
        3_600_000,
        2_592_000_000,
    ];
    let buckets: Vec<i64> = times.iter().map(|t| close_bucket(*t)).collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(close_bucket(-5), close_bucket(0));
    for t in times {
        let middle = bucket_middle(close_bucket(t));
        if t < 1_000 {
            assert_eq!(middle, t, "exact below a second");
        } else {
            assert!(
                (middle - t).abs() as f64 <= t as f64 * 0.005 + 1.0,
                "{t} -> {middle}"
            );
        }
    }
}
