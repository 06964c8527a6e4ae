//! `frontdesk triage eval` with the installed sentence encoder: the intent model's
//! encoder stage trained and scored by the same code the server runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/models/all-minilm-l6-v2")
}

/// The desk intents as training data, and paraphrases none of them contains.
fn files(dir: &Path) -> (String, String) {
    let train = Path::new(env!("CARGO_MANIFEST_DIR")).join("triage/intents/desk.csv");
    let test = [
        "text,category",
        "good day to you,greeting",
        "much obliged for sorting that out,thanks",
        "could a real person pick this up,talk_to_human",
        "this is unacceptable and I am lodging a grievance,complaint",
        "that is all for today. farewell,goodbye",
    ];
    let test_path = dir.join("test.csv");
    std::fs::write(&test_path, test.join("\n")).expect("write the test file");
    let path = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
    (path(&train), path(&test_path))
}

fn eval(extra: &[&str]) -> Value {
    let dir = std::env::temp_dir().join(format!("fd-triage-eval-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let (train, test) = files(&dir);
    let model = model_dir();
    let cache = dir.join("vectors.bin");
    let mut args = vec![
        "triage",
        "eval",
        "--train",
        &train,
        "--test",
        &test,
        "--model-dir",
        model.to_str().expect("utf-8 path"),
        "--vector-cache",
        cache.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    let output = Command::new(env!("CARGO_BIN_EXE_frontdesk"))
        .args(&args)
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = serde_json::from_slice(&output.stdout).expect("one JSON object");
    std::fs::remove_dir_all(dir).expect("cleans up");
    report
}

#[test]
fn the_encoder_stage_is_trained_and_consulted_through_the_eval_command() {
    assert!(
        model_dir().join("model.safetensors").exists(),
        "run `cargo run -- models install` first (README, Tests)"
    );
    let always = eval(&["--consult-below", "1"]);
    let version = always["model_version"].as_str().expect("a version");
    assert!(version.contains("all-MiniLM-L6-v2"), "{version}");
    assert!(
        version.ends_with("mean+max"),
        "triage pools mean and max: {version}"
    );
    let encoder = &always["encoder"];
    assert_eq!(encoder["consulted_share"], 1.0, "{always}");
    assert!(encoder["consulted_p50_us"].as_f64().expect("latency") > 0.0);
    // Five paraphrases of five intents: the encoder stage gets most of them right.
    assert!(
        always["accuracy"].as_f64().expect("accuracy") >= 0.6,
        "{always}"
    );

    // The encoder cut to its first layers is a model of its own name.
    let cut = eval(&["--consult-below", "1", "--encoder-layers", "2"]);
    let version = cut["model_version"].as_str().expect("a version");
    assert!(version.contains("first 2 of 6 layers"), "{version}");

    let never = eval(&["--consult-below", "0"]);
    assert_eq!(never["encoder"]["consulted_share"], 0.0, "{never}");

    let terms_only = eval(&["--no-encoder"]);
    assert!(terms_only.get("encoder").is_none(), "{terms_only}");
    assert!(
        !terms_only["model_version"]
            .as_str()
            .expect("a version")
            .contains("MiniLM")
    );
}
