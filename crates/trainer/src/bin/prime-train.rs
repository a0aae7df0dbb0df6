//! `prime-train`: the trainer binary (wired up with the training loop).
fn main() {}
