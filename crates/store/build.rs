// The migrations are embedded by `sqlx::migrate!`: rebuild this crate when one is added or
// changed, not only when a Rust source is.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
