//! The knowledge base from the command line: indexing the shipped help centre, and the
//! retrieval measurement on a small labelled set, lexical and hybrid.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Where `frontdesk models install` put the sentence encoder (README's set-up step).
fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/models/all-minilm-l6-v2")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fd-kb-{name}-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn frontdesk(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_frontdesk"))
        .args(args)
        .output()
        .expect("the binary runs");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("utf-8 output");
    (
        output.status.success(),
        text(output.stdout),
        text(output.stderr),
    )
}

/// Three threads on unrelated topics, and one paraphrased query for each.
fn toy_set(dir: &Path) -> (String, String) {
    let kb = [
        r#"{"id": "faq-cards", "question": "How do I freeze a lost card?", "answers": ["Open Cards and tap Freeze card; a frozen card stops new payments."]}"#,
        r#"{"id": "faq-fees", "question": "What does a transfer abroad cost?", "answers": ["International transfers cost a fixed fee plus the exchange margin."]}"#,
        r#"{"id": "faq-close", "question": "How can I close my account?", "answers": ["Withdraw your balance, then choose Close account under Profile."]}"#,
    ];
    let queries = [
        r#"{"query_id": "q1", "query": "my card is lost, how do I freeze it", "relevant_faq_id": "faq-cards"}"#,
        r#"{"query_id": "q2", "query": "fee for sending money to another country", "relevant_faq_id": "faq-fees"}"#,
        r#"{"query_id": "q3", "query": "I want to close my account for good", "relevant_faq_id": "faq-close"}"#,
    ];
    let kb_path = dir.join("kb.jsonl");
    let queries_path = dir.join("queries.jsonl");
    std::fs::write(&kb_path, kb.join("\n")).expect("write kb");
    std::fs::write(&queries_path, queries.join("\n")).expect("write queries");
    let path = |p: PathBuf| p.to_str().expect("utf-8 path").to_owned();
    (path(kb_path), path(queries_path))
}

#[test]
fn ingesting_the_shipped_help_centre_indexes_every_article() {
    let data = scratch("ingest");
    let kb = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge-base");
    let data_arg = data.to_str().expect("utf-8 path");
    let kb_arg = kb.to_str().expect("utf-8 path");

    let args = [
        "kb",
        "ingest",
        kb_arg,
        "--data-dir",
        data_arg,
        "--lexical-only",
    ];
    let (ok, stdout, stderr) = frontdesk(&args);
    assert!(ok, "kb ingest failed: {stderr}");
    let articles = std::fs::read_dir(&kb)
        .expect("knowledge base")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "md"))
        .filter(|e| e.file_name() != "README.md")
        .count();
    assert!(
        stdout.contains(&format!("{articles} articles in force")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("{articles} indexed")), "{stdout}");
    assert!(data.join("vectors/articles").is_dir());

    // A second run finds every article's content unchanged and indexes nothing.
    let (ok, again, _) = frontdesk(&args);
    assert!(ok);
    assert!(
        again.contains(&format!(
            "0 indexed as 0 passages, {articles} unchanged, 0 removed"
        )),
        "{again}"
    );
    let _ = std::fs::remove_dir_all(data);
}

/// Runs `kb eval` on the toy set with extra arguments and returns its report.
fn eval_toy_set(name: &str, extra: &[&str]) -> Value {
    let dir = scratch(name);
    let (kb, queries) = toy_set(&dir);
    let mut args = vec!["kb", "eval", "--kb", &kb, "--queries", &queries];
    args.extend_from_slice(extra);
    let (ok, stdout, stderr) = frontdesk(&args);
    let _ = std::fs::remove_dir_all(dir);
    assert!(ok, "kb eval failed: {stderr}");
    serde_json::from_str(&stdout).expect("one JSON object")
}

#[test]
fn lexical_evaluation_prints_recall_and_latency() {
    let report = eval_toy_set("lexical", &["--lexical-only"]);
    assert_eq!(report["n"], 3);
    assert_eq!(report["retrieval"], "sparse");
    assert_eq!(report["recall_at_1"], 1.0, "{report}");
    for field in ["recall_at_5", "mrr", "p50_ms", "p99_ms"] {
        assert!(report[field].is_number(), "{field} missing from {report}");
    }
}

#[test]
fn hybrid_evaluation_uses_the_installed_encoder() {
    let model = model_dir();
    assert!(
        model.join("model.safetensors").exists(),
        "no sentence encoder in {}: run `cargo run -- models install` (README, Test)",
        model.display()
    );
    let model_arg = model.to_str().expect("utf-8 path");
    let report = eval_toy_set("hybrid", &["--model-dir", model_arg]);
    assert_eq!(report["retrieval"], "hybrid");
    assert_eq!(report["recall_at_1"], 1.0, "{report}");
}

#[test]
fn evaluation_of_a_malformed_file_names_the_line() {
    let dir = scratch("malformed");
    let kb = dir.join("kb.jsonl");
    std::fs::write(
        &kb,
        "{\"id\": \"a\", \"question\": \"q\", \"answers\": []}\nnot json\n",
    )
    .expect("write");
    let kb = kb.to_str().expect("utf-8 path");
    let (ok, _, stderr) = frontdesk(&["kb", "eval", "--kb", kb, "--queries", kb, "--lexical-only"]);
    assert!(!ok);
    assert!(stderr.contains("line 2"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_encoder_puts_paraphrases_closer_than_unrelated_text() {
    use frontdesk::clients::embedding::local::LocalEncoder;

    let encoder = LocalEncoder::load(&model_dir()).expect("run `cargo run -- models install`");
    let texts = [
        "My card was stolen",
        "Someone took my bank card",
        "What time is it in Tokyo?",
    ];
    let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    let vectors = encoder.embed_blocking(&texts).expect("embeds");

    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    for vector in &vectors {
        assert_eq!(vector.len(), 384);
        assert!((dot(vector, vector) - 1.0).abs() < 1e-4, "not unit length");
    }
    let close = dot(&vectors[0], &vectors[1]);
    let far = dot(&vectors[0], &vectors[2]);
    assert!(close > far + 0.2, "paraphrase {close}, unrelated {far}");
}
