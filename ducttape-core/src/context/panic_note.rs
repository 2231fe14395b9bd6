//! The message of the panic a test is unwinding from, so its `summary.json` (and the run
//! report and JUnit built from it) say why it failed, not only that it did.
//!
//! A panic hook, installed once and chained before whatever hook was there (libtest's output
//! capture keeps working), notes the panic's place and message in a thread-local; the test
//! context takes it when it sees its thread unwinding. A panic on another thread (a task of a
//! multi-threaded runtime, resumed on the test's thread) leaves no note: the summary then has
//! the status without a message, as before.

use std::cell::RefCell;
use std::sync::Once;

/// Longest message kept: a panic carrying a whole log tail is cut here (the tail end is the
/// part a reader wants less than the start, which names the assertion).
const MAX_CHARS: usize = 8_000;

thread_local! {
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the hook (once per process).
pub(crate) fn install() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text: String = info.to_string().chars().take(MAX_CHARS).collect();
            // A panic while the note is borrowed (a panic inside a panic) keeps the first.
            let _ = LAST.try_with(|last| {
                if let Ok(mut last) = last.try_borrow_mut() {
                    *last = Some(text);
                }
            });
            previous(info);
        }));
    });
}

/// The note of this thread's last panic, taken (a later test on the thread starts clean).
pub(crate) fn take() -> Option<String> {
    LAST.try_with(|last| last.try_borrow_mut().ok().and_then(|mut l| l.take()))
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_on_this_thread_is_noted_and_taken_once() {
        install();
        let caught = std::panic::catch_unwind(|| panic!("the answer was {}", 41));
        assert!(caught.is_err());
        let note = take().expect("the panic was noted");
        assert!(note.contains("the answer was 41"), "{note}");
        assert!(note.contains("panic_note.rs"), "the place is named: {note}");
        assert_eq!(take(), None);
    }
}
