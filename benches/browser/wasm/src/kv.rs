//! The benchmark's schema and mutators: keys like `k/000123` or `p042/7`
//! holding 1 KB strings, as in the anchor suites.

use plasma::{MutatorError, Transaction};
use serde::{Deserialize, Serialize};

/// One key and its value.
#[plasma::table(name = "kv")]
#[derive(Debug, Clone, PartialEq)]
pub struct Kv {
    /// The key.
    #[plasma(id)]
    pub id: String,
    /// The value (1 KB in every case).
    pub v: String,
}

/// The benchmark's schema.
pub static SCHEMA: plasma::Schema = plasma::schema![version = "kv-bench-1"; Kv];

/// No user model: every client may write every key.
#[derive(Debug, Clone, Default)]
pub struct Ctx;

/// Arguments of [`put`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Put {
    /// The key.
    pub k: String,
    /// The value.
    pub v: String,
}

/// Arguments of [`put_many`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PutMany {
    /// Keys and values, written in order.
    pub entries: Vec<(String, String)>,
}

/// Sets one key.
#[plasma::mutator(name = "put")]
pub async fn put(tx: &mut impl Transaction, _ctx: &Ctx, args: Put) -> Result<(), MutatorError> {
    Kv::upsert().value(Kv::ID, args.k).value(Kv::V, args.v).run(tx).await?;
    Ok(())
}

/// Sets many keys in one mutation.
#[plasma::mutator(name = "putMany")]
pub async fn put_many(tx: &mut impl Transaction, _ctx: &Ctx, args: PutMany) -> Result<(), MutatorError> {
    for (k, v) in args.entries {
        Kv::upsert().value(Kv::ID, k).value(Kv::V, v).run(tx).await?;
    }
    Ok(())
}

plasma::mutators! {
    /// The benchmark's mutators.
    pub struct KvMutators { put, put_many }
}

/// The anchor suites' payload: `len` pseudo-random characters from `seed`
/// (xorshift32, the same sequence as `common.js`), so compression cannot
/// shrink them and every record differs.
pub fn payload(seed: u32, len: usize) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(0x9e37_79b9);
    if x == 0 {
        x = 1;
    }
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            char::from(ALPHABET[(x & 63) as usize])
        })
        .collect()
}
