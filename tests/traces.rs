//! Real concurrent editing sessions (`concurrent/` of the editing traces)
//! replayed with each agent as its own peer, over WebRTC on loopback: every
//! transaction is applied at its agent's peer on exactly the version its
//! parents made, and every peer must end with the trace's final text.
//!
//! The traces are found through `NITRO_TRACES` (default `../shared/traces`
//! beside the repository); `.ci/test` says loudly when they are absent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nitro_engine::doc::{Splice, Version};
use nitro_engine::engine::{Engine, EngineHandle};
use nitro_engine::path::RelPath;
use nitro_tests::{loopback_config, write_files};

struct Txn {
    parents: Vec<usize>,
    agent: usize,
    splices: Vec<Splice>,
}

fn traces_dir() -> PathBuf {
    std::env::var_os("NITRO_TRACES").map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces"), PathBuf::from)
}

fn load(name: &str) -> Result<(usize, Vec<Txn>, String)> {
    let path = traces_dir().join("concurrent").join(name);
    let file = std::fs::File::open(&path).with_context(|| format!("TRACE NOT FOUND: {} (set NITRO_TRACES)", path.display()))?;
    let json: serde_json::Value = serde_json::from_reader(flate2::read::GzDecoder::new(file))?;
    let end = json["endContent"].as_str().context("endContent")?.to_owned();
    let agents = json["numAgents"].as_u64().context("numAgents")? as usize;
    let mut txns = Vec::new();
    for t in json["txns"].as_array().context("txns")? {
        let parents = t["parents"].as_array().context("parents")?.iter().filter_map(serde_json::Value::as_u64).map(|p| p as usize).collect();
        let agent = t["agent"].as_u64().context("agent")? as usize;
        let mut splices = Vec::new();
        for p in t["patches"].as_array().context("patches")? {
            let insert = p[2].as_str().context("insert")?.to_owned();
            // Positions count code points; these traces are ASCII, where they equal UTF-16 units.
            if !insert.is_ascii() {
                bail!("{name} is not ASCII");
            }
            splices.push(Splice { index: p[0].as_u64().context("pos")? as usize, delete: p[1].as_u64().context("del")? as usize, insert });
        }
        txns.push(Txn { parents, agent, splices });
    }
    Ok((agents, txns, end))
}

async fn replay(name: &str) -> Result<()> {
    let (agents, txns, end) = load(name)?;
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("agent0");
    write_files(&proj, &[("trace.txt", b"")])?;
    let host = Engine::host(loopback_config(&proj, "agent0")).await?;
    let invite = host.invite().context("invite")?.clone();
    let mut peers: Vec<EngineHandle> = vec![host];
    for a in 1..agents {
        peers.push(Engine::join(loopback_config(&tmp.path().join(format!("agent{a}")), &format!("agent{a}")), invite.clone()).await?);
    }
    let path = RelPath::new("trace.txt")?;
    // The version where the file exists and is empty: every transaction
    // without parents starts there.
    let (_, start) = peers[0].text(path.clone()).await?;

    let mut made: Vec<Version> = Vec::with_capacity(txns.len());
    for (i, txn) in txns.iter().enumerate() {
        let peer = peers.get(txn.agent).context("agent")?;
        let base = Version::union(std::iter::once(&start).chain(txn.parents.iter().map(|&p| &made[p])));
        // Wait for the other agents' transactions this one builds on.
        let mut waited = 0;
        while !peer.holds(base.clone()).await? {
            waited += 1;
            if waited > 20_000 {
                bail!("agent {} never received the parents of transaction {i}", txn.agent);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        made.push(peer.edit_versioned(path.clone(), Some(base), txn.splices.clone()).await?);
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for (a, p) in peers.iter().enumerate() {
        while p.text(path.clone()).await?.0 != end {
            if tokio::time::Instant::now() > deadline {
                bail!("agent {a} did not end at endContent");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let file = tmp.path().join(format!("agent{a}/trace.txt"));
        while std::fs::read_to_string(&file)? != end {
            if tokio::time::Instant::now() > deadline {
                bail!("agent {a}'s file did not end at endContent");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for p in peers {
        p.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friendsforever_two_agents_end_at_end_content() -> Result<()> {
    replay("friendsforever.json.gz").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clownschool_three_agents_end_at_end_content() -> Result<()> {
    replay("clownschool.json.gz").await
}
