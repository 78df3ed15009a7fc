//! Compiles INCRBYFLOAT's long double arithmetic (src/kv/long_double.c): Rust has no long
//! double, and Redis's replies are the platform's long double printed by C.

fn main() {
    println!("cargo:rerun-if-changed=src/kv/long_double.c");
    cc::Build::new().file("src/kv/long_double.c").warnings(true).compile("senate_long_double");
}
