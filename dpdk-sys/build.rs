//! Binds DPDK 22.11 from the system's pkg-config `libdpdk` (Debian: libdpdk-dev), dynamically.
//!
//! bindgen's `wrap_static_fns` turns every `static inline` (rx/tx burst, mbuf alloc/free, …)
//! into an out-of-line C wrapper compiled here with `cc`, so Rust can call them.

use std::env;
use std::path::PathBuf;

fn main() {
    if let Err(err) = build() {
        // One line that says what to do: the rest of the build output is noise.
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

fn build() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let lib = pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
        .map_err(|e| {
            format!(
                "DPDK 22.11 not found by pkg-config (libdpdk): install it with `apt-get install libdpdk-dev` ({})",
                e.to_string().lines().next().unwrap_or("")
            )
        })?;
    let march = march_flag();

    let header = manifest_dir.join("wrapper.h");
    let header = header.to_str().ok_or("non-UTF-8 manifest path")?;
    let mut builder = bindgen::Builder::default()
        .header(header)
        .clang_arg(&march)
        .allowlist_function("rte_.*|dpdk_sys_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*|RING_F_.*")
        // Packed structs that hold aligned members (E0588); we parse these headers ourselves.
        .opaque_type("rte_arp_hdr|rte_arp_ipv4|rte_l2tpv2_combined_msg_hdr|rte_gtp_psc_generic_hdr")
        .clang_macro_fallback()
        .wrap_static_fns(true)
        .wrap_static_fns_path(out.join("static_fns"))
        .derive_default(true)
        .layout_tests(true);
    for path in &lib.include_paths {
        builder = builder.clang_arg(format!("-I{}", path.display()));
    }
    builder
        .generate()
        .map_err(|e| format!("bindgen over DPDK headers failed: {e}"))?
        .write_to_file(out.join("bindings.rs"))?;

    let mut cc = cc::Build::new();
    cc.file(out.join("static_fns.c"))
        .file(manifest_dir.join("shim.c"))
        .include(&manifest_dir)
        .flag(&march)
        .flag("-Wno-deprecated-declarations")
        .flag("-Wno-unused-parameter")
        .flag("-Wno-duplicate-decl-specifier");
    for path in &lib.include_paths {
        cc.include(path);
    }
    cc.compile("dpdk_sys_static_fns");

    // rte_vdev_init lives in the vdev bus driver, which libdpdk.pc's Libs leave out.
    println!("cargo:rustc-link-lib=dylib=rte_bus_vdev");
    println!("cargo:version={}", lib.version);
    Ok(())
}

/// The `-march` that libdpdk.pc asks for: the public headers' inline functions need it.
fn march_flag() -> String {
    let cflags = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    cflags
        .split_whitespace()
        .find(|f| f.starts_with("-march="))
        .unwrap_or("-march=corei7")
        .to_string()
}
