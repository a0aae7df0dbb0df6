//! The arithmetic tokenizer loaded through `prime_models::Tokenizer::from_dir`, and the prompt
//! pipeline on top of it: chat template, length filter, left padding, resumable state.

use prime_data::arithmetic::{
    save_arithmetic_tokenizer, ArithmeticConfig, ArithmeticTask, ArithmeticTokens, Split,
};
use prime_data::prompts::{BatcherState, PromptBatcher, PromptOptions};
use prime_models::{ChatMessage, Tokenizer};

fn tokenizer(config: &ArithmeticConfig) -> (tempfile::TempDir, Tokenizer) {
    let dir = tempfile::tempdir().unwrap();
    save_arithmetic_tokenizer(dir.path(), config).unwrap();
    let tokenizer = Tokenizer::from_dir(dir.path()).unwrap();
    (dir, tokenizer)
}

#[test]
fn tokenizer_loads_like_a_model_directory() {
    let config = ArithmeticConfig::medium();
    let (_dir, tok) = tokenizer(&config);
    assert_eq!(tok.pad_token_id(), Some(0));
    assert_eq!(tok.eos_token_id(), Some(2));
    assert_eq!(tok.token_to_id(ArithmeticTokens::IM_START), Some(1));
    assert!(
        (100..=300).contains(&tok.vocab_size()),
        "{}",
        tok.vocab_size()
    );
    // Every number of the value range is a single token.
    for n in 0..=config.value_max {
        assert_eq!(tok.encode(&n.to_string(), false).unwrap().len(), 1, "{n}");
    }
    let text = "12*3=36\n36-5=31\n\\boxed{31}";
    let ids = tok.encode(text, false).unwrap();
    // 12 * 3 = 36 \n | 36 - 5 = 31 \n | \boxed{ 31 }
    assert_eq!(ids.len(), 6 + 6 + 3);
    assert_eq!(tok.decode(&ids, false).unwrap(), text);
}

#[test]
fn chat_template_renders_chatml_and_ends_with_the_assistant_header() {
    let (_dir, tok) = tokenizer(&ArithmeticConfig::default());
    let text = tok
        .apply_chat_template(
            &[ChatMessage::user("Compute from left to right: 7+3")],
            true,
        )
        .unwrap();
    assert_eq!(
        text,
        "<|im_start|>user\nCompute from left to right: 7+3<|im_end|>\n<|im_start|>assistant\n"
    );
    let ids = tok.encode(&text, false).unwrap();
    assert_eq!(tok.decode(&ids, false).unwrap(), text);
    assert!(!ids.contains(&tok.token_to_id(ArithmeticTokens::UNK).unwrap()));
}

#[test]
fn prompts_and_solutions_are_short_for_every_preset() {
    for config in [
        ArithmeticConfig::easy(),
        ArithmeticConfig::medium(),
        ArithmeticConfig::hard(),
    ] {
        let (_dir, tok) = tokenizer(&config);
        let task = ArithmeticTask::new(config).unwrap();
        let unk = tok.token_to_id(ArithmeticTokens::UNK).unwrap();
        for example in task.sft_examples(1, 0, 300).unwrap() {
            let prompt = tok.encode_chat(&example.problem.messages, true).unwrap();
            let solution = tok.encode(&example.completion, false).unwrap();
            assert!(prompt.len() <= 32, "prompt of {} tokens", prompt.len());
            assert!(solution.len() < 48, "solution of {} tokens", solution.len());
            assert!(!prompt.contains(&unk) && !solution.contains(&unk));
        }
    }
}

fn batcher(
    max_prompt_len: usize,
    system_prompt: Option<String>,
) -> (tempfile::TempDir, PromptBatcher) {
    let config = ArithmeticConfig::default();
    let (dir, tok) = tokenizer(&config);
    let task = ArithmeticTask::new(config).unwrap();
    let problems = task.problems(Split::Rl, 5, 0, 40).unwrap();
    let options = PromptOptions {
        system_prompt,
        max_prompt_len,
    };
    (
        dir,
        PromptBatcher::new(problems, &tok, &options, 17, true).unwrap(),
    )
}

#[test]
fn long_prompts_are_dropped_and_counted() {
    let (_dir, all) = batcher(1000, None);
    let lens: Vec<usize> = (0..all.dataset().len())
        .map(|i| all.dataset().prompt_ids(i).len())
        .collect();
    let limit = *lens.iter().min().unwrap();
    let expected_dropped = lens.iter().filter(|&&l| l > limit).count();
    assert!(expected_dropped > 0, "need prompts of different lengths");
    let (_dir, some) = batcher(limit, None);
    assert_eq!(some.dataset().dropped_too_long(), expected_dropped);
    assert_eq!(some.dataset().len(), 40 - expected_dropped);
}

#[test]
fn system_prompt_override_reaches_the_tokens() {
    let (_dir, plain) = batcher(1000, None);
    let (_dir2, with_system) = batcher(1000, Some("You are a helpful assistant.".into()));
    let a = plain.dataset().prompt_ids(0);
    let b = with_system.dataset().prompt_ids(0);
    // "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" = 1+1+1+10+1+1 tokens.
    assert_eq!(b.len(), a.len() + 15);
    assert_eq!(&b[15..], a);
}

#[test]
fn batches_are_left_padded_with_masks() {
    let (_dir, mut batcher) = batcher(1000, None);
    let batch = batcher.next_batch(8);
    let pad = batcher.dataset().pad_token_id();
    assert_eq!(batch.len(), 8);
    for (row, &index) in batch.indices.iter().enumerate() {
        let prompt = batcher.dataset().prompt_ids(index);
        let pad_len = batch.seq_len() - prompt.len();
        assert_eq!(&batch.input_ids[row][pad_len..], prompt);
        assert!(batch.input_ids[row][..pad_len].iter().all(|&t| t == pad));
        assert_eq!(
            batch.attention_mask[row].iter().sum::<u32>() as usize,
            prompt.len()
        );
        assert!(batch.attention_mask[row][..pad_len].iter().all(|&m| m == 0));
    }
    assert!(batch.prompt_lens.iter().any(|&l| l == batch.seq_len()));
}

#[test]
fn saved_state_continues_identically_with_buffer_across_epochs() {
    let (_dir, mut original) = batcher(1000, None);
    original.next_batch(30);
    let taken = original.next_batch(16); // crosses into epoch 1
    original.push_leftovers(taken.indices[10..].iter().copied());
    let saved = serde_json::to_string(&original.state()).unwrap();

    let mut expected = Vec::new();
    for n in [4, 9, 25, 40] {
        expected.push(original.next_batch(n));
    }

    let (_dir, mut resumed) = batcher(1000, None);
    let state: BatcherState = serde_json::from_str(&saved).unwrap();
    resumed.restore(state).unwrap();
    for (n, want) in [4, 9, 25, 40].into_iter().zip(&expected) {
        assert_eq!(&resumed.next_batch(n), want);
    }
    // The buffer came first after the restore.
    assert_eq!(expected[0].indices, taken.indices[10..14].to_vec());
}

#[test]
fn restore_refuses_a_different_dataset() {
    let (_dir, original) = batcher(1000, None);
    let state = original.state();
    let (_dir2, mut other) = batcher(1000, Some("Be brief.".into()));
    assert!(other.restore(state).is_err());
}
