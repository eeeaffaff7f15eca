"""The text table printed by ``Program.summary()``."""

from synaprefect.utils.nest import flatten


def _schema_lines(schema: dict) -> list[str]:
    lines = [schema.get("title", "")]
    for key, prop in schema.get("properties", {}).items():
        kind = prop.get("type")
        if kind is None and "$ref" in prop:
            kind = prop["$ref"].split("/")[-1]
        if kind is None and "anyOf" in prop:
            kind = " | ".join(
                str(p.get("type", p.get("$ref", "?")).split("/")[-1]) for p in prop["anyOf"]
            )
        if kind is None and "enum" in prop:
            kind = "enum"
        lines.append(f"{key}: {kind}")
    return lines


def _output_schemas(program, module) -> list[str]:
    graph = program._graph
    if graph is None:
        return ["?"]
    lines = []
    for node in graph.nodes:
        if node.module is module:
            for symbol in flatten(node.outputs):
                lines += _schema_lines(symbol.get_schema()) if symbol is not None else ["None"]
    return lines or ["?"]


def summary_text(program, line_length: int = 100, show_trainable: bool = False) -> str:
    widths = [int(line_length * 0.4), int(line_length * 0.42)]
    widths.append(line_length - sum(widths) - (10 if show_trainable else 0))
    if show_trainable:
        widths.append(10)
    headers = ["Module (type)", "Output Schema", "Variables #", "Trainable"][: len(widths)]

    def row(cells: list[list[str]]) -> list[str]:
        height = max(len(c) for c in cells)
        out = []
        for i in range(height):
            parts = [
                (cells[j][i] if i < len(cells[j]) else "")[: widths[j] - 1].ljust(widths[j])
                for j in range(len(widths))
            ]
            out.append(" " + "".join(parts).rstrip())
        return out

    lines = [f'Program: "{program.name}"']
    if program.description:
        lines.append(f"description: '{program.description}'")
    lines.append("_" * line_length)
    lines += row([[h] for h in headers])
    lines.append("=" * line_length)
    modules = program.modules
    for i, module in enumerate(modules):
        cells = [
            [f"{module.name} ({type(module).__name__})"],
            _output_schemas(program, module),
            [str(len(module.variables))],
        ]
        if show_trainable:
            cells.append(["Y" if module.trainable else "N"])
        lines += row(cells)
        lines.append(("_" if i < len(modules) - 1 else "=") * line_length)
    if not modules:
        lines.append("=" * line_length)
    lines.append(f" Total variables: {len(program.variables)}")
    lines.append(f" Trainable variables: {len(program.trainable_variables)}")
    lines.append(f" Non-trainable variables: {len(program.non_trainable_variables)}")
    lines.append("_" * line_length)
    return "\n".join(lines)
