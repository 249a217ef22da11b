//! Who a write is made for (behaviour B20): the caller names an actor (the dashboard user) for the
//! writes it makes on this thread, and the change log records it beside `source = "library"`.

use std::cell::RefCell;

thread_local! {
    static ACTOR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f` with `actor` recorded on every change the library writes on this thread meanwhile
/// (any store); the previous actor is restored after, even if `f` panics.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let store = model_mapping::Store::open_default(dir.path().join("app.db"))?;
/// let input = model_mapping::MappingInput::new("mapping:xai", Some("grok-4"))?;
/// model_mapping::with_actor("alice", || store.upsert(&input))?;
/// let last = &store.history(None, None, 1)?[0];
/// assert_eq!(last.actor.as_deref(), Some("alice"));
/// assert_eq!(last.source, "library");
/// # Ok::<(), model_mapping::Error>(())
/// ```
pub fn with_actor<T>(actor: &str, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<String>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            ACTOR.with(|a| *a.borrow_mut() = previous);
        }
    }
    let _restore = Restore(set(Some(actor.to_owned())));
    f()
}

/// Sets (or with `None` clears) this thread's actor; returns the previous one.
pub(crate) fn set(actor: Option<String>) -> Option<String> {
    ACTOR.with(|a| std::mem::replace(&mut *a.borrow_mut(), actor))
}

/// This thread's actor.
pub(crate) fn current() -> Option<String> {
    ACTOR.with(|a| a.borrow().clone())
}
