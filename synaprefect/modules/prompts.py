"""The default prompt of ``Generator`` and its rendering."""

import functools
import json

import jinja2

__all__ = [
    "DEFAULT_PROMPT_TEMPLATE",
    "default_prompt_template",
    "render_system_prompt",
    "user_message",
    "to_text",
]

DEFAULT_PROMPT_TEMPLATE = """\
<instructions>
{{ instructions }}
</instructions>
{%- if inputs_schema %}
<input_schema>
{{ inputs_schema }}
</input_schema>
{%- endif %}
{%- if outputs_schema %}
<output_schema>
{{ outputs_schema }}
</output_schema>
{%- endif %}
{%- if examples %}
<examples>
{%- for inputs, outputs in examples %}
<example>
<input>
{{ inputs }}
</input>
<output>
{{ outputs }}
</output>
</example>
{%- endfor %}
</examples>
{%- endif %}
"""


def default_prompt_template() -> str:
    """The Jinja2 template ``Generator`` renders its system prompt with (variables
    ``instructions``, ``inputs_schema``, ``outputs_schema``, ``examples`` as
    ``(input, output)`` pairs); start from it to write your own ``prompt_template=``.

    Example:
    ```python
    template = synaprefect.default_prompt_template() + "\nAlways answer in French."
    ```
    """
    return DEFAULT_PROMPT_TEMPLATE


def to_text(value) -> str:
    """Compact, stable JSON as the model sees it."""
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


@functools.lru_cache(maxsize=64)
def _template(source: str) -> jinja2.Template:
    environment = jinja2.Environment(
        autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=False
    )
    return environment.from_string(source)


def render_system_prompt(
    template: str,
    *,
    instructions: str,
    examples: list,
    inputs_schema: dict | None,
    outputs_schema: dict | None,
) -> str:
    return (
        _template(template)
        .render(
            instructions=instructions,
            examples=[(to_text(i), to_text(o)) for i, o in examples],
            inputs_schema=to_text(inputs_schema) if inputs_schema else None,
            outputs_schema=to_text(outputs_schema) if outputs_schema else None,
        )
        .strip()
    )


def user_message(inputs_json: dict) -> str:
    return f"<input>\n{to_text(inputs_json)}\n</input>"
