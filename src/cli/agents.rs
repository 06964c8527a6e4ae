//! `frontdesk agents`: manage the team from the command line, e.g. to create the first
//! supervisor of a new deployment.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};

use crate::config::Settings;
use crate::http::agents::{NewAgentBody, validate_new_agent};
use crate::http::auth::{hash_token, new_agent_token};
use crate::storage::{Actor, Role, Store};

#[derive(Debug, Args)]
pub struct AgentsArgs {
    #[command(subcommand)]
    pub command: AgentsCommand,
}

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Create an agent or supervisor and print its API token (shown only once)
    Create(CreateAgent),
    /// List agents and supervisors
    List,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Agent,
    Supervisor,
}

#[derive(Debug, Args)]
pub struct CreateAgent {
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long, value_enum, default_value = "agent")]
    pub role: RoleArg,
    /// Skills with levels, e.g. cards=3,general=1
    #[arg(long, value_delimiter = ',')]
    pub skills: Vec<String>,
    /// Languages spoken, e.g. en,de
    #[arg(long, value_delimiter = ',')]
    pub languages: Vec<String>,
    /// Teams, e.g. cards,care
    #[arg(long, value_delimiter = ',')]
    pub teams: Vec<String>,
    /// Conversations the agent can hold at once
    #[arg(long, default_value_t = 3)]
    pub capacity: i64,
}

/// Runs an `agents` command against the configured database.
pub async fn run(settings: &Settings, args: AgentsArgs) -> anyhow::Result<()> {
    let store = super::open_store(settings, 1).await?;
    let result = match args.command {
        AgentsCommand::Create(create) => create_agent(&store, create).await,
        AgentsCommand::List => list_agents(&store).await,
    };
    store.close().await;
    result
}

async fn create_agent(store: &Store, args: CreateAgent) -> anyhow::Result<()> {
    let body = NewAgentBody {
        name: args.name,
        email: args.email,
        role: match args.role {
            RoleArg::Agent => Role::Agent,
            RoleArg::Supervisor => Role::Supervisor,
        },
        skills: parse_skills(&args.skills)?,
        languages: args.languages,
        teams: args.teams,
        capacity: args.capacity,
    };
    let new = validate_new_agent(body)?;
    let token = new_agent_token();
    let actor = Actor {
        kind: "cli",
        id: None,
    };
    let agent = store
        .create_agent(&new, &hash_token(&token), &actor)
        .await?;
    println!("created {:?} {} ({})", agent.role, agent.name, agent.id);
    println!("token: {token}");
    println!("The token is shown only this once; keep it somewhere safe.");
    Ok(())
}

async fn list_agents(store: &Store) -> anyhow::Result<()> {
    for agent in store.agents().await? {
        let skills: Vec<String> = agent
            .skills
            .iter()
            .map(|(s, l)| format!("{s}={l}"))
            .collect();
        println!(
            "{}  {:<24} {:<10} {:<8} capacity {}  skills {}  languages {}",
            agent.id,
            agent.name,
            format!("{:?}", agent.role).to_lowercase(),
            format!("{:?}", agent.presence).to_lowercase(),
            agent.capacity,
            skills.join(","),
            agent.languages.join(","),
        );
    }
    Ok(())
}

fn parse_skills(pairs: &[String]) -> anyhow::Result<BTreeMap<String, u8>> {
    let mut skills = BTreeMap::new();
    for pair in pairs.iter().filter(|p| !p.is_empty()) {
        let Some((name, level)) = pair.split_once('=') else {
            bail!("skill {pair:?} must look like name=level");
        };
        let level: u8 = level
            .parse()
            .with_context(|| format!("skill level of {name:?} must be a number from 1 to 10"))?;
        if !(1..=10).contains(&level) {
            bail!("skill level of {name:?} must be from 1 to 10");
        }
        skills.insert(name.to_owned(), level);
    }
    Ok(skills)
}
