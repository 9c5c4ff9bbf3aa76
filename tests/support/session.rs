//! Engines of one session driven in the test's own process: waiting for
//! them to agree, and edits made at random the way several people type.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nitro_engine::doc::Splice;
use nitro_engine::engine::EngineHandle;
use nitro_engine::path::RelPath;
use rand::Rng;

use crate::CONVERGE;

/// Waits until `cond` holds, looking every 100 ms, for at most `limit`.
pub async fn until(limit: Duration, mut cond: impl AsyncFnMut() -> Result<bool>) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    while !cond().await? {
        if tokio::time::Instant::now() > deadline {
            bail!("condition not met within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Waits until every engine is connected to every other one.
pub async fn full_mesh(peers: &[EngineHandle]) -> Result<()> {
    until(CONVERGE, async || {
        for p in peers {
            if p.peers().await?.len() != peers.len() - 1 {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await
    .context("full mesh")
}

/// `rounds` rounds in which each engine in turn inserts a token
/// `<{tag}p{i}r{round}>` between two others, or now and then deletes one of
/// its own, at the text it has then (what arrives meanwhile is merged).
/// Returns the tokens of this call that must be left.
pub async fn random_edits(peers: &[EngineHandle], path: &RelPath, tag: &str, rounds: usize, rng: &mut impl Rng) -> Result<BTreeSet<String>> {
    let mut kept = BTreeSet::new();
    for round in 0..rounds {
        for (i, p) in peers.iter().enumerate() {
            let (text, version) = p.text(path.clone()).await?;
            let mine: Vec<String> =
                kept.iter().filter(|t: &&String| t.starts_with(&format!("<{tag}p{i}r")) && text.contains(t.as_str())).cloned().collect();
            if !mine.is_empty() && rng.random_bool(0.2) {
                let gone = &mine[rng.random_range(0..mine.len())];
                let at = text.find(gone.as_str()).context("token")?;
                let index = text[..at].encode_utf16().count();
                p.edit(path.clone(), Some(version), vec![Splice { index, delete: gone.len(), insert: String::new() }]).await?;
                kept.remove(gone);
                continue;
            }
            // Between tokens, never inside one.
            let bounds: Vec<usize> = std::iter::once(0)
                .chain(text.char_indices().filter(|(_, c)| *c == '>').map(|(at, _)| at + 1))
                .chain(std::iter::once(text.len()))
                .collect();
            let at = bounds[rng.random_range(0..bounds.len())];
            let token = format!("<{tag}p{i}r{round}>");
            p.edit(path.clone(), Some(version), vec![Splice { index: text[..at].encode_utf16().count(), delete: 0, insert: token.clone() }]).await?;
            kept.insert(token);
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..30))).await;
    }
    Ok(kept)
}

/// Waits until every engine holds the same text at `path`, and returns it.
pub async fn same_text(peers: &[EngineHandle], path: &RelPath, limit: Duration) -> Result<String> {
    let mut texts = Vec::new();
    until(limit, async || {
        texts.clear();
        for p in peers {
            texts.push(p.text(path.clone()).await?.0);
        }
        Ok(texts.windows(2).all(|w| w[0] == w[1]))
    })
    .await
    .with_context(|| format!("texts differ: {texts:#?}"))?;
    Ok(texts.swap_remove(0))
}

/// The tokens `<...>` of a text made by [`random_edits`].
pub fn tokens(text: &str) -> BTreeSet<String> {
    text.split_inclusive('>').filter_map(|t| t.find('<').map(|at| t[at..].to_owned())).collect()
}
