//! Embeds the DPDK version found by pkg-config (and the git revision, when there is one) so
//! `rampart --version` says exactly what it was built against.

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-changed=.git/HEAD");
    let dpdk = match pkg_config::Config::new()
        .cargo_metadata(false)
        .env_metadata(false)
        .probe("libdpdk")
    {
        Ok(lib) => lib.version,
        Err(_) => {
            eprintln!(
                "error: DPDK not found by pkg-config (libdpdk): install it with `apt-get install libdpdk-dev`"
            );
            std::process::exit(1);
        }
    };
    println!("cargo:rustc-env=RAMPART_DPDK_VERSION={dpdk}");
    let revision = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=RAMPART_GIT_REVISION={revision}");
}
