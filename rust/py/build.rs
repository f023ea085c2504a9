// SPDX-License-Identifier: Apache-2.0
// Exposes the cargo profile at runtime so benchmarks can refuse debug builds.
fn main() {
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=FASTROUTE_BUILD_PROFILE={profile}");
    println!("cargo:rerun-if-changed=build.rs");
}
