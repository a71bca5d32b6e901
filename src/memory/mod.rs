//! Memory the engine asks for: sizes in checked arithmetic, buffers
//! allocated fallibly, and the guard that compares what a call will need
//! with what the system can still give ([`available()`]), so that too much
//! becomes [`Error::Memory`] (Python's `MemoryError`) before anything is
//! built, never an abort or the OOM killer.

mod available;

pub use available::{LIMIT_VAR, available};

use crate::error::{Error, Result};

/// Estimates below this skip the guard, unless a budget is set
/// ([`LIMIT_VAR`]): reading `/proc` costs about 0.2 ms, half the fixed cost
/// of a small call, and cannot matter at this size.
pub const GUARD_FROM: u128 = 32 << 20;

/// A part of the memory a call needs: what it is, its size in bytes, and
/// what the caller can do to shrink it.
#[derive(Clone, Debug)]
pub struct Part {
    pub what: String,
    pub bytes: u128,
    pub advice: &'static str,
}

/// Checks that `parts` fit in the memory available ([`available()`]); else
/// an [`Error::Memory`] that lists them and gives the advice of each part of
/// at least a tenth of the total, the largest first.
pub fn guard(parts: &[Part]) -> Result<()> {
    let total: u128 = parts.iter().map(|p| p.bytes).sum();
    if total < GUARD_FROM && std::env::var_os(LIMIT_VAR).is_none() {
        return Ok(());
    }
    let Some(free) = available()? else { return Ok(()) };
    if total <= u128::from(free) {
        return Ok(());
    }
    let list: Vec<String> =
        parts.iter().filter(|p| p.bytes > 0).map(|p| format!("{} for {}", size(p.bytes), p.what)).collect();
    let mut large: Vec<&Part> = parts.iter().filter(|p| p.bytes >= total / 10).collect();
    large.sort_by_key(|p| std::cmp::Reverse(p.bytes));
    let advice: Vec<&str> = large.iter().map(|p| p.advice).collect();
    Err(Error::Memory(format!(
        "ntk_rs needs about {} but {} is available: {}; {}",
        size(total),
        size(u128::from(free)),
        list.join(", "),
        advice.join("; or ")
    )))
}

/// `a · b` in bytes or counts, saturating: estimates that large are refused
/// by the guard anyway.
pub fn mul(a: u128, b: u128) -> u128 {
    a.saturating_mul(b)
}

/// A vector of `n` copies of `value`, or an [`Error::Memory`] naming `what`
/// when the allocator refuses (or `n` values of `T` exceed the address
/// space).
pub fn filled<T: Clone>(n: usize, value: T, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        Error::Memory(format!(
            "could not allocate {} for {what}",
            size(mul(n as u128, size_of::<T>() as u128))
        ))
    })?;
    v.resize(n, value);
    Ok(v)
}

/// Types whose all-zero bytes are the value zero.
///
/// # Safety
/// Implement only for types where every byte zero is a valid value.
pub unsafe trait Zeroable: Copy {}

// SAFETY: all-zero bytes are 0.0 and 0.
unsafe impl Zeroable for f32 {}
unsafe impl Zeroable for f64 {}

/// A vector of `n` zeros, or an [`Error::Memory`] naming `what` when the
/// allocator refuses. The zeros come from the allocator (`calloc`): fresh
/// pages arrive zeroed from the system and are not written twice, which
/// [`filled`] would do.
pub fn zeroed<T: Zeroable>(n: usize, what: &str) -> Result<Vec<T>> {
    if n == 0 || size_of::<T>() == 0 {
        return Ok(Vec::new());
    }
    let refused = || {
        Error::Memory(format!(
            "could not allocate {} for {what}",
            size(mul(n as u128, size_of::<T>() as u128))
        ))
    };
    let layout = std::alloc::Layout::array::<T>(n).map_err(|_| refused())?;
    // SAFETY: the layout has a non-zero size.
    let data = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if data.is_null() {
        return Err(refused());
    }
    // SAFETY: allocated by the global allocator with the layout of `n`
    // values of `T`, all initialised (zero bytes are valid: `Zeroable`).
    Ok(unsafe { Vec::from_raw_parts(data, n, n) })
}

/// `bytes` for people: `"1.5 GiB"`.
pub fn size(bytes: u128) -> String {
    let mut n = bytes as f64;
    for unit in ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] {
        if n < 1024.0 {
            return format!("{n:.1} {unit}");
        }
        n /= 1024.0;
    }
    format!("{n:.1} EiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_allocations_are_errors() {
        let err = filled(usize::MAX / 2, 0u64, "a test buffer").unwrap_err();
        assert!(matches!(&err, Error::Memory(m) if m.contains("a test buffer")), "{err:?}");
        assert_eq!(filled(3, 1.5f32, "three").unwrap(), vec![1.5; 3]);
        let err = zeroed::<f64>(usize::MAX / 4, "a zeroed buffer").unwrap_err();
        assert!(matches!(&err, Error::Memory(m) if m.contains("a zeroed buffer")), "{err:?}");
        assert_eq!(zeroed::<f32>(3, "three").unwrap(), vec![0.0; 3]);
    }

    #[test]
    fn the_guard_names_the_largest_part() {
        let parts = [
            Part { what: "the output".into(), bytes: 1 << 80, advice: "pass out=" },
            Part { what: "4 threads".into(), bytes: 1 << 20, advice: "use fewer threads" },
        ];
        let Err(Error::Memory(msg)) = guard(&parts) else { panic!("no error") };
        assert!(
            msg.contains("for the output") && msg.contains("for 4 threads") && msg.ends_with("pass out=")
        );
        assert!(guard(&parts[1..]).is_ok(), "small estimates pass");
        // Every large part's advice, the largest first.
        let parts = [Part { bytes: 1 << 79, ..parts[1].clone() }, parts[0].clone()];
        let Err(Error::Memory(msg)) = guard(&parts) else { panic!("no error") };
        assert!(msg.ends_with("pass out=; or use fewer threads"), "{msg}");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(512), "512.0 B");
        assert_eq!(size(3 << 29), "1.5 GiB");
        assert_eq!(mul(u128::MAX, 2), u128::MAX);
    }
}
