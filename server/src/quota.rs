//! Per-key quotas: how much of the server one credential or one address may hold at once.
//!
//! The request pools bound the server as a whole; these bound each holder inside them, so
//! that one stolen lobby-screen token, or one laptop on the public Wi-Fi, cannot take what
//! every other kiosk, console and screen needs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Counts of what each key holds now. Keys with nothing held are removed, so the map holds
/// only keys with something in flight (bounded by the pools and connections themselves).
#[derive(Default)]
pub struct Quota {
    held: Mutex<HashMap<String, usize>>,
}

/// One unit held under a key; given back when dropped.
pub struct Held {
    quota: Arc<Quota>,
    key: String,
}

impl Quota {
    /// Takes one unit under `key`, unless it already holds `max`.
    pub fn take(self: &Arc<Self>, key: &str, max: usize) -> Option<Held> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let n = held.entry(key.to_owned()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Held {
            quota: self.clone(),
            key: key.to_owned(),
        })
    }

    /// What `key` holds now.
    pub fn held(&self, key: &str) -> usize {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.quota.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = held.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key holds at most its maximum; what is given back can be taken again, and keys
    /// holding nothing leave the map.
    #[test]
    fn a_key_holds_at_most_its_maximum() {
        let quota = Arc::new(Quota::default());
        let a: Vec<Held> = (0..3).filter_map(|_| quota.take("a", 3)).collect();
        assert_eq!(a.len(), 3);
        assert!(quota.take("a", 3).is_none());
        assert!(quota.take("b", 3).is_some());
        drop(a);
        assert_eq!(quota.held("a"), 0);
        assert!(quota.take("a", 3).is_some());
        assert!(quota.held.lock().map(|m| m.is_empty()).unwrap_or(false));
    }
}
