//! `frontdesk intents`: list, import and remove the intent examples supervisors add
//! beside the shipped ones, straight in the database.
//!
//! A running server does not see these changes until its next start or its next
//! retrain (which any change through the API asks for). Example texts are printed to
//! the terminal on request but never logged.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::config::Settings;
use crate::domain::triage::parse_examples_csv;
use crate::pipeline::intents::{is_label, new_example};
use crate::storage::{Actor, NewIntentExample, Store};

/// Options of `intents`.
#[derive(Debug, Args)]
#[command(
    after_help = "A running server picks up these changes at its next start, or at \
     its next retrain (which adding or removing an example through the API asks for)."
)]
pub struct IntentsArgs {
    #[command(subcommand)]
    pub command: IntentsCommand,
}

#[derive(Debug, Subcommand)]
pub enum IntentsCommand {
    /// List the added intent examples (id, label, text)
    List {
        /// Only the examples of this label
        #[arg(long)]
        label: Option<String>,
    },
    /// Add the examples of a `text,category` CSV file; duplicates are skipped
    Import {
        /// A CSV file with a header row naming `text` and `category`
        file: PathBuf,
    },
    /// Remove one added example by its id
    Remove {
        /// The example's id, as `list` prints it
        id: String,
    },
}

/// Runs an `intents` command against the configured database.
pub async fn run(settings: &Settings, args: IntentsArgs) -> anyhow::Result<()> {
    let store = super::open_store(settings, 1).await?;
    let result = match args.command {
        IntentsCommand::List { label } => list(&store, label.as_deref()).await,
        IntentsCommand::Import { file } => import(&store, &file).await,
        IntentsCommand::Remove { id } => remove(&store, &id).await,
    };
    store.close().await;
    result
}

const CLI: Actor = Actor {
    kind: "cli",
    id: None,
};

async fn list(store: &Store, label: Option<&str>) -> anyhow::Result<()> {
    if let Some(label) = label
        && !is_label(label)
    {
        bail!("{label:?} is not an intent label (lowercase letters, digits and underscores)");
    }
    let examples = store.intent_examples(label).await?;
    for example in &examples {
        println!("{}  {:<32} {}", example.id, example.label, example.text);
    }
    eprintln!("{} added example(s)", examples.len());
    Ok(())
}

async fn import(store: &Store, file: &Path) -> anyhow::Result<()> {
    let examples = read_examples(file)?;
    let added = store.add_intent_examples(&examples, &CLI).await?;
    let duplicates = added.iter().filter(|a| a.duplicate).count();
    println!(
        "{}: {} added, {} already present",
        file.display(),
        added.len() - duplicates,
        duplicates
    );
    println!("A running server uses them from its next start or next retrain.");
    Ok(())
}

/// The examples of a CSV file, each checked as the API checks them.
fn read_examples(file: &Path) -> anyhow::Result<Vec<NewIntentExample>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("could not read {}", file.display()))?;
    let parsed = parse_examples_csv(&text)
        .with_context(|| format!("{} is not a text,category CSV", file.display()))?;
    let checked: Result<Vec<_>, _> = parsed
        .iter()
        .enumerate()
        .map(|(row, e)| {
            new_example(&e.label, &e.text)
                .with_context(|| format!("{}: example {}", file.display(), row + 1))
        })
        .collect();
    let checked = checked?;
    if checked.is_empty() {
        bail!("{} holds no examples", file.display());
    }
    Ok(checked)
}

async fn remove(store: &Store, id: &str) -> anyhow::Result<()> {
    match store.delete_intent_example(id, &CLI).await? {
        Some(example) => {
            println!("removed {} ({})", example.id, example.label);
            println!("A running server forgets it at its next start or next retrain.");
            Ok(())
        }
        None => bail!("no added intent example has the id {id}"),
    }
}
