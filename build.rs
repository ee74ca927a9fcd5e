fn main() {
    // refinery embeds sql/ at compile time; a new migration must trigger a rebuild.
    println!("cargo:rerun-if-changed=sql");
    println!("cargo:rerun-if-changed=assets");
}
