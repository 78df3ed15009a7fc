//! `include/senate.h` is what cbindgen makes of this crate: the committed header is never out
//! of date. Rewrite it with `make header` (`SENATE_REWRITE=1 cargo test -p senate-capi --test
//! header`) and review the diff.

use std::path::Path;

#[test]
fn header_is_current() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = crate_dir.join("include/senate.h");
    if std::env::var_os("SENATE_REWRITE").is_some() {
        std::fs::write(&path, &generated).expect("include/senate.h is writable");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(committed == generated, "{} is out of date: run `make header` and commit the result", path.display());
}
