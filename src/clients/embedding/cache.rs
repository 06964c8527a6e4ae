//! A file of sentence vectors for training texts, keyed by model and text, so that
//! retraining the intent model's encoder stage encodes only examples it has not seen.
//!
//! Only training examples pass through it, never customer messages: [`CachedEncoder`]
//! caches [`SentenceEncoder::encode_training`] and passes [`SentenceEncoder::encode`]
//! straight through. The vectors are held in memory only while training runs.
//!
//! File layout: the magic line `frontdesk-vectors 1\n`, the dimension count as a
//! little-endian `u32`, then records of a 32-byte SHA-256 key and that many little-endian
//! `f32`s. A file that does not match is ignored and rewritten.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::domain::triage::SentenceEncoder;

const MAGIC: &[u8] = b"frontdesk-vectors 1\n";

type Key = [u8; 32];

/// Wraps an encoder with a vector file for its training texts.
pub struct CachedEncoder {
    inner: Arc<dyn SentenceEncoder>,
    path: PathBuf,
    /// One training run at a time reads and rewrites the file.
    writing: Mutex<()>,
}

impl CachedEncoder {
    pub fn new(inner: Arc<dyn SentenceEncoder>, path: impl Into<PathBuf>) -> Self {
        Self {
            inner,
            path: path.into(),
            writing: Mutex::new(()),
        }
    }

    fn key(&self, text: &str) -> Key {
        let mut hasher = Sha256::new();
        hasher.update(self.inner.name().as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.finalize().into()
    }
}

impl SentenceEncoder for CachedEncoder {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }

    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        self.inner.encode(texts)
    }

    fn encode_training(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let _guard = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let dims = self.inner.dimensions();
        let mut known = read_file(&self.path, dims);
        let keys: Vec<Key> = texts.iter().map(|t| self.key(t)).collect();
        // The same text twice is encoded once.
        let mut queued = HashSet::new();
        let missing: Vec<usize> = (0..texts.len())
            .filter(|&i| !known.contains_key(&keys[i]) && queued.insert(keys[i]))
            .collect();
        if !missing.is_empty() {
            let batch: Vec<&str> = missing.iter().map(|&i| texts[i]).collect();
            let vectors = self.inner.encode(&batch)?;
            if vectors.len() != batch.len() {
                return Err(format!(
                    "the encoder returned {} vectors for {} texts",
                    vectors.len(),
                    batch.len()
                ));
            }
            for (&i, vector) in missing.iter().zip(vectors) {
                known.insert(keys[i], vector);
            }
            // A cache that cannot be written costs time on the next start, nothing else.
            if let Err(error) = write_file(&self.path, dims, &known) {
                tracing::warn!(path = %self.path.display(), %error, "could not save the training vectors");
            }
        }
        // Vectors move out of the map rather than being copied; a text given twice takes
        // a copy of its first vector.
        let mut first_of: HashMap<Key, usize> = HashMap::new();
        let mut out: Vec<Vec<f32>> = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            let vector = match known.remove(key) {
                Some(vector) => {
                    first_of.insert(*key, i);
                    vector
                }
                None => first_of
                    .get(key)
                    .map(|&j| out[j].clone())
                    .unwrap_or_default(),
            };
            out.push(vector);
        }
        Ok(out)
    }
}

/// Reads the file record by record, so that it is never held whole beside the map.
fn read_file(path: &Path, dims: usize) -> HashMap<Key, Vec<f32>> {
    let mut out = HashMap::new();
    let Ok(file) = std::fs::File::open(path) else {
        return out;
    };
    let mut reader = BufReader::new(file);
    let mut header = vec![0_u8; MAGIC.len() + 4];
    if reader.read_exact(&mut header).is_err()
        || header[..MAGIC.len()] != *MAGIC
        || header[MAGIC.len()..] != (dims as u32).to_le_bytes()
    {
        return out;
    }
    let mut record = vec![0_u8; 32 + dims * 4];
    while reader.read_exact(&mut record).is_ok() {
        let mut key = [0_u8; 32];
        key.copy_from_slice(&record[..32]);
        let vector = record[32..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        out.insert(key, vector);
    }
    out
}

/// Writes beside the file and renames, so a crash never leaves half a file behind.
fn write_file(path: &Path, dims: usize, vectors: &HashMap<Key, Vec<f32>>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = path.with_extension("partial");
    let mut out = BufWriter::new(std::fs::File::create(&partial)?);
    out.write_all(MAGIC)?;
    out.write_all(&(dims as u32).to_le_bytes())?;
    let mut keys: Vec<&Key> = vectors.keys().collect();
    keys.sort_unstable();
    for key in keys {
        out.write_all(key)?;
        for v in &vectors[key] {
            out.write_all(&v.to_le_bytes())?;
        }
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Vectors from text length, counting how many texts it was asked for.
    struct Counting(AtomicUsize);

    impl SentenceEncoder for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn dimensions(&self) -> usize {
            2
        }
        fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
            self.0.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
        }
    }

    #[test]
    fn training_texts_are_encoded_once_across_runs_and_predictions_are_not_kept() {
        let dir = std::env::temp_dir().join(format!("fd-vcache-{}", uuid::Uuid::new_v4()));
        let path = dir.join("vectors.bin");
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        let cached = CachedEncoder::new(counting.clone(), &path);

        let first = cached
            .encode_training(&["abc", "de", "abc"])
            .expect("encodes");
        assert_eq!(first, vec![vec![3.0, 1.0], vec![2.0, 1.0], vec![3.0, 1.0]]);
        assert_eq!(
            counting.0.load(Ordering::SeqCst),
            2,
            "a repeated text is encoded once"
        );

        // A new wrapper over the same file: only the new text is encoded.
        let again = CachedEncoder::new(counting.clone(), &path);
        let second = again.encode_training(&["de", "fghi"]).expect("encodes");
        assert_eq!(second, vec![vec![2.0, 1.0], vec![4.0, 1.0]]);
        assert_eq!(counting.0.load(Ordering::SeqCst), 3);

        // Predictions go straight to the encoder and add nothing to the file.
        let size = std::fs::metadata(&path).expect("file").len();
        again.encode(&["a customer message"]).expect("encodes");
        assert_eq!(std::fs::metadata(&path).expect("file").len(), size);

        // A file of another dimension count is ignored, not misread.
        assert!(read_file(&path, 3).is_empty());
        std::fs::remove_dir_all(dir).expect("cleans up");
    }
}
