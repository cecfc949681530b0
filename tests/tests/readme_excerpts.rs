//! The README's browser code cannot be a doctest (it is wasm32-only), so its
//! blocks quote the todo app instead: a block whose first line is
//! `// <path>.rs` must appear in that file, line for line (indentation
//! aside), with `// ...` standing for lines left out. The app itself is
//! compiled for wasm32 by the test command, so the README's code compiles.

use std::path::Path;

/// `(path, body lines)` of every quoting block.
fn quoting_blocks(readme: &str) -> Vec<(String, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if !line.starts_with("```rust") {
            continue;
        }
        let body: Vec<String> = lines.by_ref().take_while(|l| !l.starts_with("```")).map(str::to_owned).collect();
        let Some(first) = body.first() else { continue };
        if let Some(path) = first.strip_prefix("// ").filter(|p| p.ends_with(".rs") && !p.contains(' ')) {
            blocks.push((path.to_owned(), body[1..].to_vec()));
        }
    }
    blocks
}

/// Where `chunk` occurs in `file` at or after line `from` (comparing
/// trimmed lines), as the index just past it.
fn find(file: &[&str], chunk: &[String], from: usize) -> Option<usize> {
    (from..=file.len().saturating_sub(chunk.len()))
        .find(|&start| chunk.iter().zip(&file[start..]).all(|(want, have)| want.trim() == have.trim()))
        .map(|start| start + chunk.len())
}

#[test]
fn every_quoted_block_of_the_readme_is_in_the_file_it_names() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let blocks = quoting_blocks(&readme);
    assert!(blocks.len() >= 4, "the quick start quotes the web app: {} blocks found", blocks.len());
    for (path, body) in blocks {
        let text = std::fs::read_to_string(root.join(&path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        let file: Vec<&str> = text.lines().collect();
        let mut at = 0;
        for chunk in body.split(|l| l.trim() == "// ...") {
            let chunk: Vec<String> = chunk.iter().filter(|l| !l.trim().is_empty()).cloned().collect();
            if chunk.is_empty() {
                continue;
            }
            at = find(&file, &chunk, at).unwrap_or_else(|| {
                panic!("README quotes {path}, but these lines are not there (in this order):\n{}", chunk.join("\n"))
            });
        }
    }
}

#[test]
fn a_changed_line_is_caught() {
    let readme = "```rust,ignore\n// a.rs\nfn one() {}\n// ...\nfn two() {}\n```\n";
    let blocks = quoting_blocks(readme);
    assert_eq!(blocks.len(), 1);
    let file = ["fn one() {}", "", "fn two() {}"];
    let (_, body) = &blocks[0];
    let chunks: Vec<&[String]> = body.split(|l| l.trim() == "// ...").collect();
    let at = find(&file, chunks[0], 0).expect("first");
    assert!(find(&file, chunks[1], at).is_some());
    assert!(find(&file, &["fn three() {}".to_owned()], 0).is_none());
    assert!(find(&file, chunks[0], at).is_none(), "order matters");
}
