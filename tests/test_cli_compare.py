"""`mlx-playground compare`: several templates on one conversation, decoded in one batch."""

from __future__ import annotations

import json


def test_compare_json_runs_every_column_in_one_batch_with_their_own_prompts(cli):
    code, out, err = cli("compare", "--prompt", "What is 4 + 5?", "--preset", "chatml", "--preset", "llama2",
                         "--preset", "generic", "--temp", "0", "--max-tokens", "30", "--json")
    assert code == 0, err
    columns = json.loads(out)["columns"]
    assert [c["preset"] for c in columns] == ["chatml", "llama2", "generic"]
    assert columns[0]["prompt"] == "<|im_start|>user\nWhat is 4 + 5?<|im_end|>\n<|im_start|>assistant\n"
    assert "[INST]" in columns[1]["prompt"] and columns[2]["prompt"].startswith("User: ")
    assert {"text", "finish_reason", "generation_tokens", "stop_token", "seed", "batch_size"} <= set(columns[0])
    assert max(c["batch_size"] for c in columns) >= 2  # decoded together
    assert len({c["seed"] for c in columns}) == 1  # one seed for every column
    code, out, _ = cli("generate", "--prompt", "What is 4 + 5?", "--preset", "chatml", "--temp", "0",
                       "--max-tokens", "30", "--json")
    assert json.loads(out.splitlines()[-1])["text"] == columns[0]["text"]  # the same reply as alone


def test_compare_with_a_template_file_and_the_text_report(tmp_path, cli):
    template = tmp_path / "mine.jinja"
    template.write_text("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}assistant:")
    code, out, err = cli("compare", "--prompt", "Hello!", "--preset", "chatml", "--template", str(template),
                         "--temp", "0", "--max-tokens", "10")
    assert code == 0, err
    assert "== column 1: chatml ==" in out and f"== column 2: {template} ==" in out
    assert "user: Hello!\nassistant:" in out and "tokens, ttft" in out


def test_compare_needs_two_columns_and_valid_ones(cli):
    code, _, err = cli("compare", "--prompt", "Hello!", "--preset", "chatml")
    assert code == 2 and err.startswith("error: compare needs at least two columns") and "hint:" in err
    code, _, err = cli("compare", "--prompt", "Hello!", "--preset", "chatml", "--preset", "nope")
    assert code == 2 and "unknown preset 'nope'" in err
