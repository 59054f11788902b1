"""The conversations every preset is checked on, and the expected official renders.

``EXPECTED`` maps (preset, case) to the exact prompt the family's official template produces for the
case's messages, with the preset's BOS/EOS strings and date_string "26 Jul 2024" (Llama 3.1/3.2).
For families without a system role the messages are first merged (system strategy 'merge').
"""

from datetime import datetime

U = "user"
A = "assistant"
S = "system"


def _m(*turns: tuple[str, str]) -> list[dict]:
    return [{"role": role, "content": content} for role, content in turns]


#: case name -> (messages, add_generation_prompt)
CASES = {
    "single": (_m((U, "Hello!")), True),
    "system": (_m((S, "You are a helpful assistant."), (U, "Hi")), True),
    "multi_turn": (_m((U, "Hi"), (A, "Hello! How can I help?"), (U, "What is 2+2?")), True),
    "no_generation_prompt": (_m((S, "Be brief."), (U, "Hi"), (A, "Hello!")), False),
    "whitespace": (_m((S, "  Be brief. \n"), (U, "  padded \n"), (A, "\n reply  \n"), (U, "\tagain ")), True),
    "non_ascii": (_m((U, "Grüße aus München 🌍 — 你好"), (A, "Hallo! 👋"), (U, "¿Qué tal?")), True),
}


# Generated from the OFFICIAL templates (rendered by transformers), not from our presets.
# code and generic have no official template: their strings are our documented format.
EXPECTED = {
    ('chatml', 'single'): '<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n',
    ('chatml', 'system'): '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    ('chatml', 'multi_turn'): '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n',
    ('chatml', 'no_generation_prompt'): '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n',
    ('chatml', 'whitespace'): '<|im_start|>system\n  Be brief. \n<|im_end|>\n<|im_start|>user\n  padded \n<|im_end|>\n<|im_start|>assistant\n\n reply  \n<|im_end|>\n<|im_start|>user\n\tagain <|im_end|>\n<|im_start|>assistant\n',
    ('chatml', 'non_ascii'): '<|im_start|>user\nGrüße aus München 🌍 — 你好<|im_end|>\n<|im_start|>assistant\nHallo! 👋<|im_end|>\n<|im_start|>user\n¿Qué tal?<|im_end|>\n<|im_start|>assistant\n',
    ('qwen2.5', 'single'): '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n',
    ('qwen2.5', 'system'): '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    ('qwen2.5', 'multi_turn'): '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n',
    ('qwen2.5', 'no_generation_prompt'): '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n',
    ('qwen2.5', 'whitespace'): '<|im_start|>system\n  Be brief. \n<|im_end|>\n<|im_start|>user\n  padded \n<|im_end|>\n<|im_start|>assistant\n\n reply  \n<|im_end|>\n<|im_start|>user\n\tagain <|im_end|>\n<|im_start|>assistant\n',
    ('qwen2.5', 'non_ascii'): '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nGrüße aus München 🌍 — 你好<|im_end|>\n<|im_start|>assistant\nHallo! 👋<|im_end|>\n<|im_start|>user\n¿Qué tal?<|im_end|>\n<|im_start|>assistant\n',
    ('qwen2', 'single'): '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n',
    ('qwen2', 'system'): '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    ('qwen2', 'multi_turn'): '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n',
    ('qwen2', 'no_generation_prompt'): '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n',
    ('qwen2', 'whitespace'): '<|im_start|>system\n  Be brief. \n<|im_end|>\n<|im_start|>user\n  padded \n<|im_end|>\n<|im_start|>assistant\n\n reply  \n<|im_end|>\n<|im_start|>user\n\tagain <|im_end|>\n<|im_start|>assistant\n',
    ('qwen2', 'non_ascii'): '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nGrüße aus München 🌍 — 你好<|im_end|>\n<|im_start|>assistant\nHallo! 👋<|im_end|>\n<|im_start|>user\n¿Qué tal?<|im_end|>\n<|im_start|>assistant\n',
    ('llama3', 'single'): '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ('llama3', 'system'): '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ('llama3', 'multi_turn'): '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ('llama3', 'no_generation_prompt'): '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>',
    ('llama3', 'whitespace'): '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\npadded<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nreply<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nagain<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ('llama3', 'non_ascii'): '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nGrüße aus München 🌍 — 你好<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHallo! 👋<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n¿Qué tal?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ('llama3.1', 'single'): '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ('llama3.1', 'system'): '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ('llama3.1', 'multi_turn'): '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ('llama3.1', 'no_generation_prompt'): '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>',
    ('llama3.1', 'whitespace'): '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\npadded<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nreply<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nagain<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ('llama3.1', 'non_ascii'): '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGrüße aus München 🌍 — 你好<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHallo! 👋<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n¿Qué tal?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ('llama3.2', 'single'): '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ('llama3.2', 'system'): '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ('llama3.2', 'multi_turn'): '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ('llama3.2', 'no_generation_prompt'): '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>',
    ('llama3.2', 'whitespace'): '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\npadded<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nreply<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nagain<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ('llama3.2', 'non_ascii'): '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGrüße aus München 🌍 — 你好<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHallo! 👋<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n¿Qué tal?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ('phi3', 'single'): '<|user|>\nHello!<|end|>\n<|assistant|>\n',
    ('phi3', 'system'): '<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n',
    ('phi3', 'multi_turn'): '<|user|>\nHi<|end|>\n<|assistant|>\nHello! How can I help?<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n',
    ('phi3', 'no_generation_prompt'): '<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|endoftext|>',
    ('phi3', 'whitespace'): '<|system|>\n  Be brief. \n<|end|>\n<|user|>\n  padded \n<|end|>\n<|assistant|>\n\n reply  \n<|end|>\n<|user|>\n\tagain <|end|>\n<|assistant|>\n',
    ('phi3', 'non_ascii'): '<|user|>\nGrüße aus München 🌍 — 你好<|end|>\n<|assistant|>\nHallo! 👋<|end|>\n<|user|>\n¿Qué tal?<|end|>\n<|assistant|>\n',
    ('phi3.5', 'single'): '<|user|>\nHello!<|end|>\n<|assistant|>\n',
    ('phi3.5', 'system'): '<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n',
    ('phi3.5', 'multi_turn'): '<|user|>\nHi<|end|>\n<|assistant|>\nHello! How can I help?<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n',
    ('phi3.5', 'no_generation_prompt'): '<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|endoftext|>',
    ('phi3.5', 'whitespace'): '<|system|>\n  Be brief. \n<|end|>\n<|user|>\n  padded \n<|end|>\n<|assistant|>\n\n reply  \n<|end|>\n<|user|>\n\tagain <|end|>\n<|assistant|>\n',
    ('phi3.5', 'non_ascii'): '<|user|>\nGrüße aus München 🌍 — 你好<|end|>\n<|assistant|>\nHallo! 👋<|end|>\n<|user|>\n¿Qué tal?<|end|>\n<|assistant|>\n',
    ('gemma', 'single'): '<bos><start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\n',
    ('gemma', 'system'): '<bos><start_of_turn>user\nYou are a helpful assistant.\n\nHi<end_of_turn>\n<start_of_turn>model\n',
    ('gemma', 'multi_turn'): '<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello! How can I help?<end_of_turn>\n<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n',
    ('gemma', 'no_generation_prompt'): '<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n',
    ('gemma', 'whitespace'): '<bos><start_of_turn>user\nBe brief. \n\n\n  padded<end_of_turn>\n<start_of_turn>model\nreply<end_of_turn>\n<start_of_turn>user\nagain<end_of_turn>\n<start_of_turn>model\n',
    ('gemma', 'non_ascii'): '<bos><start_of_turn>user\nGrüße aus München 🌍 — 你好<end_of_turn>\n<start_of_turn>model\nHallo! 👋<end_of_turn>\n<start_of_turn>user\n¿Qué tal?<end_of_turn>\n<start_of_turn>model\n',
    ('smollm2', 'single'): '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n',
    ('smollm2', 'system'): '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    ('smollm2', 'multi_turn'): '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n',
    ('smollm2', 'no_generation_prompt'): '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n',
    ('smollm2', 'whitespace'): '<|im_start|>system\n  Be brief. \n<|im_end|>\n<|im_start|>user\n  padded \n<|im_end|>\n<|im_start|>assistant\n\n reply  \n<|im_end|>\n<|im_start|>user\n\tagain <|im_end|>\n<|im_start|>assistant\n',
    ('smollm2', 'non_ascii'): '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nGrüße aus München 🌍 — 你好<|im_end|>\n<|im_start|>assistant\nHallo! 👋<|im_end|>\n<|im_start|>user\n¿Qué tal?<|im_end|>\n<|im_start|>assistant\n',
    ('llama2', 'single'): '<s>[INST] Hello! [/INST]',
    ('llama2', 'system'): '<s>[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHi [/INST]',
    ('llama2', 'multi_turn'): '<s>[INST] Hi [/INST] Hello! How can I help? </s><s>[INST] What is 2+2? [/INST]',
    ('llama2', 'no_generation_prompt'): '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s>',
    ('llama2', 'whitespace'): '<s>[INST] <<SYS>>\n  Be brief. \n\n<</SYS>>\n\n  padded [/INST] reply </s><s>[INST] again [/INST]',
    ('llama2', 'non_ascii'): '<s>[INST] Grüße aus München 🌍 — 你好 [/INST] Hallo! 👋 </s><s>[INST] ¿Qué tal? [/INST]',
    ('codellama', 'single'): '<s>[INST] Hello! [/INST]',
    ('codellama', 'system'): '<s>[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHi [/INST]',
    ('codellama', 'multi_turn'): '<s>[INST] Hi [/INST] Hello! How can I help? </s><s>[INST] What is 2+2? [/INST]',
    ('codellama', 'no_generation_prompt'): '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s>',
    ('codellama', 'whitespace'): '<s>[INST] <<SYS>>\n  Be brief. \n\n<</SYS>>\n\n  padded [/INST] reply </s><s>[INST] again [/INST]',
    ('codellama', 'non_ascii'): '<s>[INST] Grüße aus München 🌍 — 你好 [/INST] Hallo! 👋 </s><s>[INST] ¿Qué tal? [/INST]',
    ('mistral', 'single'): '<s> [INST] Hello! [/INST]',
    ('mistral', 'system'): '<s> [INST] You are a helpful assistant.\n\nHi [/INST]',
    ('mistral', 'multi_turn'): '<s> [INST] Hi [/INST] Hello! How can I help?</s> [INST] What is 2+2? [/INST]',
    ('mistral', 'no_generation_prompt'): '<s> [INST] Be brief.\n\nHi [/INST] Hello!</s>',
    ('mistral', 'whitespace'): '<s> [INST]   Be brief. \n\n\n  padded \n [/INST] \n reply  \n</s> [INST] \tagain  [/INST]',
    ('mistral', 'non_ascii'): '<s> [INST] Grüße aus München 🌍 — 你好 [/INST] Hallo! 👋</s> [INST] ¿Qué tal? [/INST]',
    ('mistral-v0.3', 'single'): '<s>[INST] Hello![/INST]',
    ('mistral-v0.3', 'system'): '<s>[INST] You are a helpful assistant.\n\nHi[/INST]',
    ('mistral-v0.3', 'multi_turn'): '<s>[INST] Hi[/INST] Hello! How can I help?</s>[INST] What is 2+2?[/INST]',
    ('mistral-v0.3', 'no_generation_prompt'): '<s>[INST] Hi[/INST] Hello!</s>',
    ('mistral-v0.3', 'whitespace'): '<s>[INST]   padded \n[/INST] reply</s>[INST]   Be brief. \n\n\n\tagain [/INST]',
    ('mistral-v0.3', 'non_ascii'): '<s>[INST] Grüße aus München 🌍 — 你好[/INST] Hallo! 👋</s>[INST] ¿Qué tal?[/INST]',
    ('zephyr', 'single'): '<|user|>\nHello!</s>\n<|assistant|>\n',
    ('zephyr', 'system'): '<|system|>\nYou are a helpful assistant.</s>\n<|user|>\nHi</s>\n<|assistant|>\n',
    ('zephyr', 'multi_turn'): '<|user|>\nHi</s>\n<|assistant|>\nHello! How can I help?</s>\n<|user|>\nWhat is 2+2?</s>\n<|assistant|>\n',
    ('zephyr', 'no_generation_prompt'): '<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n',
    ('zephyr', 'whitespace'): '<|system|>\n  Be brief. \n</s>\n<|user|>\n  padded \n</s>\n<|assistant|>\n\n reply  \n</s>\n<|user|>\n\tagain </s>\n<|assistant|>\n',
    ('zephyr', 'non_ascii'): '<|user|>\nGrüße aus München 🌍 — 你好</s>\n<|assistant|>\nHallo! 👋</s>\n<|user|>\n¿Qué tal?</s>\n<|assistant|>\n',
    ('deepseek-coder', 'single'): '<｜begin▁of▁sentence｜>You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer\n### Instruction:\nHello!\n### Response:\n',
    ('deepseek-coder', 'system'): '<｜begin▁of▁sentence｜>You are a helpful assistant.### Instruction:\nHi\n### Response:\n',
    ('deepseek-coder', 'multi_turn'): '<｜begin▁of▁sentence｜>You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer\n### Instruction:\nHi\n### Response:\nHello! How can I help?\n<|EOT|>\n### Instruction:\nWhat is 2+2?\n### Response:\n',
    ('deepseek-coder', 'no_generation_prompt'): '<｜begin▁of▁sentence｜>Be brief.### Instruction:\nHi\n### Response:\nHello!\n<|EOT|>\n',
    ('deepseek-coder', 'whitespace'): '<｜begin▁of▁sentence｜>  Be brief. \n### Instruction:\n  padded \n\n### Response:\n\n reply  \n\n<|EOT|>\n### Instruction:\n\tagain \n### Response:\n',
    ('deepseek-coder', 'non_ascii'): '<｜begin▁of▁sentence｜>You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer\n### Instruction:\nGrüße aus München 🌍 — 你好\n### Response:\nHallo! 👋\n<|EOT|>\n### Instruction:\n¿Qué tal?\n### Response:\n',
    ('deepseek', 'single'): '<｜begin▁of▁sentence｜>User: Hello!\n\nAssistant:',
    ('deepseek', 'system'): '<｜begin▁of▁sentence｜>You are a helpful assistant.\n\nUser: Hi\n\nAssistant:',
    ('deepseek', 'multi_turn'): '<｜begin▁of▁sentence｜>User: Hi\n\nAssistant: Hello! How can I help?<｜end▁of▁sentence｜>User: What is 2+2?\n\nAssistant:',
    ('deepseek', 'no_generation_prompt'): '<｜begin▁of▁sentence｜>Be brief.\n\nUser: Hi\n\nAssistant: Hello!<｜end▁of▁sentence｜>',
    ('deepseek', 'whitespace'): '<｜begin▁of▁sentence｜>  Be brief. \n\n\nUser:   padded \n\n\nAssistant: \n reply  \n<｜end▁of▁sentence｜>User: \tagain \n\nAssistant:',
    ('deepseek', 'non_ascii'): '<｜begin▁of▁sentence｜>User: Grüße aus München 🌍 — 你好\n\nAssistant: Hallo! 👋<｜end▁of▁sentence｜>User: ¿Qué tal?\n\nAssistant:',
    ('command-r', 'single'): '<BOS_TOKEN><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello!<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>',
    ('command-r', 'system'): '<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>You are a helpful assistant.<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>',
    ('command-r', 'multi_turn'): '<BOS_TOKEN><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Hello! How can I help?<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>What is 2+2?<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>',
    ('command-r', 'no_generation_prompt'): '<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Be brief.<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Hello!<|END_OF_TURN_TOKEN|>',
    ('command-r', 'whitespace'): '<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>  Be brief. \n<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>padded<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>reply<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>again<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>',
    ('command-r', 'non_ascii'): '<BOS_TOKEN><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Grüße aus München 🌍 — 你好<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Hallo! 👋<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>¿Qué tal?<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>',
    ('vicuna', 'single'): "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions. USER: Hello! ASSISTANT:",
    ('vicuna', 'system'): 'You are a helpful assistant. USER: Hi ASSISTANT:',
    ('vicuna', 'multi_turn'): "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions. USER: Hi ASSISTANT: Hello! How can I help?</s>USER: What is 2+2? ASSISTANT:",
    ('vicuna', 'no_generation_prompt'): 'Be brief. USER: Hi ASSISTANT: Hello!</s>',
    ('vicuna', 'whitespace'): '  Be brief. \n USER:   padded \n ASSISTANT: \n reply  \n</s>USER: \tagain  ASSISTANT:',
    ('vicuna', 'non_ascii'): "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions. USER: Grüße aus München 🌍 — 你好 ASSISTANT: Hallo! 👋</s>USER: ¿Qué tal? ASSISTANT:",
    ('code', 'single'): 'Hello!',
    ('code', 'system'): '# System: You are a helpful assistant.\n\nHi',
    ('code', 'multi_turn'): 'Hi\n\nHello! How can I help?<|endoftext|>\n\nWhat is 2+2?',
    ('code', 'no_generation_prompt'): '# System: Be brief.\n\nHi\n\nHello!<|endoftext|>',
    ('code', 'whitespace'): '# System: Be brief.\n\n  padded \n\n\n\n reply  \n<|endoftext|>\n\n\tagain ',
    ('code', 'non_ascii'): 'Grüße aus München 🌍 — 你好\n\nHallo! 👋<|endoftext|>\n\n¿Qué tal?',
    ('generic', 'single'): 'User: Hello!\n\nAssistant:',
    ('generic', 'system'): 'System: You are a helpful assistant.\n\nUser: Hi\n\nAssistant:',
    ('generic', 'multi_turn'): 'User: Hi\n\nAssistant: Hello! How can I help?\n\nUser: What is 2+2?\n\nAssistant:',
    ('generic', 'no_generation_prompt'): 'System: Be brief.\n\nUser: Hi\n\nAssistant: Hello!\n\n',
    ('generic', 'whitespace'): 'System:   Be brief. \n\n\nUser:   padded \n\n\nAssistant: \n reply  \n\n\nUser: \tagain \n\nAssistant:',
    ('generic', 'non_ascii'): 'User: Grüße aus München 🌍 — 你好\n\nAssistant: Hallo! 👋\n\nUser: ¿Qué tal?\n\nAssistant:',
}


#: A short conversation, a tool and a pinned clock for the keyword tests of the preset tables.
KEYWORD_NOW = datetime(2026, 1, 15, 9, 30)
KEYWORD_CHAT = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "2+2?"},
]
KEYWORD_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two integers.",
            "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
        },
    }
]
