//! The installable package: `.ci/test` builds the .deb (`tauri build
//! --debug --bundles deb`); this checks what a user installs with it.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use nitro_tests::nitro_bin;

fn the_deb() -> Result<PathBuf> {
    let dir = nitro_bin().with_file_name("bundle").join("deb");
    let found = std::fs::read_dir(&dir)
        .with_context(|| {
            format!("{} is missing: build the package with `npx --prefix ui tauri build --debug --bundles deb` (.ci/test does)", dir.display())
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"));
    found.with_context(|| format!("no .deb in {}", dir.display()))
}

/// The contents of one file in the package.
fn file_in(deb: &PathBuf, suffix: &str) -> Result<(String, Vec<u8>)> {
    let list = Command::new("dpkg-deb").arg("--contents").arg(deb).output()?;
    let listing = String::from_utf8_lossy(&list.stdout);
    let path = listing
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .find(|p| p.ends_with(suffix))
        .with_context(|| format!("no {suffix} in the package:\n{listing}"))?
        .to_owned();
    let out = Command::new("sh").arg("-c").arg(format!("dpkg-deb --fsys-tarfile '{}' | tar -xO '{path}'", deb.display())).output()?;
    if !out.status.success() {
        bail!("could not read {path}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok((path, out.stdout))
}

#[test]
fn the_deb_installs_the_app_its_icon_and_the_nitroide_link_handler() -> Result<()> {
    let deb = the_deb()?;
    let (path, desktop) = file_in(&deb, ".desktop")?;
    let desktop = String::from_utf8(desktop)?;
    assert!(path.trim_start_matches("./").starts_with("usr/share/applications/"), "{path}");
    let mime = desktop.lines().find(|l| l.starts_with("MimeType=")).with_context(|| format!("no MimeType line:\n{desktop}"))?;
    assert!(mime.split(['=', ';']).any(|m| m == "x-scheme-handler/nitroide"), "{mime}");
    // The link reaches the app as its argument.
    let exec = desktop.lines().find(|l| l.starts_with("Exec=")).context("no Exec line")?;
    assert_eq!(exec, "Exec=nitroide %u");

    let list = Command::new("dpkg-deb").arg("--contents").arg(&deb).output()?;
    let listing = String::from_utf8_lossy(&list.stdout);
    let binary = listing
        .lines()
        .find(|l| l.ends_with(" usr/bin/nitroide") || l.ends_with(" ./usr/bin/nitroide"))
        .context("no usr/bin/nitroide in the package")?;
    assert!(binary.starts_with("-rwx"), "not an executable: {binary}");
    let (_, icon) = file_in(&deb, "128x128/apps/nitroide.png")?;
    assert!(icon.starts_with(b"\x89PNG"), "the package's icon is not a PNG");
    Ok(())
}
