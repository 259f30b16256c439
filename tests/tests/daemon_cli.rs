//! The binaries as an operator meets them: version, config checks and their errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use std::path::PathBuf;
use std::process::Command;

use rampart_tests::node::rampart_binary;

fn write(name: &str, body: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

fn lab_like_config() -> String {
    // The same file the lab and demo use, with made-up interface names: --check opens no port.
    let mut cfg = include_str!("../../control/examples/lab-node.xml").to_string();
    cfg = cfg
        .replace("PLACEHOLDER_LAN", "veth-lan")
        .replace("PLACEHOLDER_WAN", "veth-wan");
    cfg
}

fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let path = rampart_binary().unwrap().with_file_name(bin);
    let out = Command::new(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_names_dpdk() {
    let (code, out, _) = run("rampart", &["--version"]);
    assert_eq!(code, 0);
    assert!(out.contains("DPDK 22.11"), "{out}");
}

#[test]
fn check_accepts_a_valid_config() {
    let good = write("good.xml", &lab_like_config());
    let (code, out, err) = run("rampart", &["--check", "--config", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("valid (2 ports"), "{out}");
    let (code, out, _) = run("rampartctl", &["config", "check", good.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("valid"));
}

#[test]
fn check_lists_every_error_with_its_path() {
    let bad = lab_like_config()
        .replace("<subnet>24</subnet>", "<subnet>33</subnet>")
        .replace("<workers>1</workers>", "<workers>0</workers>");
    let bad = write("bad.xml", &bad);
    let (code, _, err) = run("rampart", &["--check", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/pfsense/interfaces/lan/subnet"), "{err}");
    assert!(err.contains("/pfsense/interfaces/wan/subnet"), "{err}");
    assert!(err.contains("/pfsense/rampart/workers"), "{err}");
    let (code, _, err2) = run("rampartctl", &["config", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err2.contains("/pfsense/interfaces/lan/subnet"), "{err2}");
}

#[test]
fn check_refuses_configs_it_cannot_run() {
    let broken = write("broken.xml", "<pfsense><interfaces><lan>");
    let (code, _, err) = run(
        "rampart",
        &["--check", "--config", broken.to_str().unwrap()],
    );
    assert_eq!(code, 2);
    assert!(err.contains("broken.xml"), "{err}");

    let no_node = lab_like_config();
    let start = no_node.find("<rampart>").unwrap();
    let end = no_node.find("</rampart>").unwrap() + "</rampart>".len();
    let no_node = write(
        "no-node.xml",
        &format!("{}{}", &no_node[..start], &no_node[end..]),
    );
    let (code, _, err) = run(
        "rampart",
        &["--check", "--config", no_node.to_str().unwrap()],
    );
    assert_eq!(code, 2);
    assert!(err.contains("/pfsense/rampart is missing"), "{err}");

    let (code, _, err) = run("rampart", &["--config", "/nonexistent/config.xml"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/config.xml"), "{err}");
}

#[test]
fn readme_config_example_is_valid() {
    let readme = include_str!("../../README.md");
    let start = readme.find("```xml\n").expect("README has an xml example") + "```xml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let example = write("readme.xml", &readme[start..end]);
    let (code, out, err) = run(
        "rampart",
        &["--check", "--config", example.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("valid (2 ports, 1 routes"), "{out}");
}
