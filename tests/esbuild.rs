//! The esbuild release for Linux (npm `@esbuild/linux-x64`, a static Go
//! program that bundles on every core) bundles a real npm package, three.js,
//! under emu: the files it writes are byte-identical to the native run's.

mod support;
use support::*;

use std::path::{Path, PathBuf};

fn esbuild() -> PathBuf {
    npm_packages().join("@esbuild/linux-x64/bin/esbuild")
}

/// The files under `dir`, by path relative to it, with their contents.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push((path.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Runs esbuild natively, then under emu, from the packages' directory,
/// each writing into the same (emptied) directory so that the paths in the
/// metafile and the source maps agree, and compares status, output and the
/// files written.
fn bundle_like_native(name: &str, args: &[&str]) -> Vec<(PathBuf, Vec<u8>)> {
    let out = scratch(&format!("esbuild-{name}"));
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.push(format!("--outdir={}", out.display()));
    all.push(format!("--metafile={}/meta.json", out.display()));
    all.push("--log-level=warning".into());
    let run = Run::new(esbuild()).args(all).dir(npm_packages());

    let native = run.native();
    assert_eq!(native.status, 0, "esbuild failed natively: {}", native.stderr);
    let native_files = files(&out);
    assert!(!native_files.is_empty());
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::create_dir(&out).unwrap();

    let emulated = run.under_emu();
    assert_eq!(emulated, native, "esbuild {args:?} under emu");
    let emu_files = files(&out);
    let names = |f: &[(PathBuf, Vec<u8>)]| f.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(names(&emu_files), names(&native_files));
    for ((path, emu_bytes), (_, native_bytes)) in emu_files.iter().zip(&native_files) {
        assert!(emu_bytes == native_bytes, "{} differs from the native run's", path.display());
    }
    emu_files
}

#[test]
fn bundles_three_minified_with_a_source_map() {
    let files = bundle_like_native("minify", &["three/src/Three.js", "--bundle", "--minify", "--sourcemap"]);
    let bundle = &files.iter().find(|(p, _)| p.as_os_str() == "Three.js").expect("Three.js written").1;
    assert!(bundle.len() > 300_000, "a bundle of three.js is hundreds of kilobytes, not {}", bundle.len());
}

#[test]
fn bundles_three_entry_points_with_code_splitting() {
    let files = bundle_like_native(
        "splitting",
        &[
            "three/src/Three.js",
            "three/src/Three.WebGPU.js",
            "three/src/Three.TSL.js",
            "--bundle",
            "--splitting",
            "--format=esm",
        ],
    );
    assert!(files.len() > 3, "shared chunks besides the three entry points");
}
