//! The UI's TypeScript types are generated from the Rust types: the file in the tree is what the
//! generator makes, so the browser and the desktop window never read a shape the core does not
//! send.

use std::path::Path;

use kyc_monitor::monitor::typescript::{typescript, TYPES_FILE};

#[test]
fn the_ui_types_are_the_ones_generated_from_the_rust_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(TYPES_FILE);
    let generated = typescript();
    if std::env::var_os("UPDATE_UI_TYPES").is_some() {
        std::fs::write(&path, &generated).expect("write the UI's types");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "{TYPES_FILE} is stale: run `UPDATE_UI_TYPES=1 cargo test --test ui_types` and commit it"
    );
}
